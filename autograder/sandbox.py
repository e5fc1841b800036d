"""The sandbox a student's kernel runs in: bubblewrap namespaces, a clean environment and limits.

Inside the sandbox a kernel sees the Python environment and the course library read-only, writes
only its own scratch folder plus a private ``/tmp`` and home, has no network (its own network
namespace: the kernel talks to the grader over unix sockets in the scratch folder, jupyter's ``ipc``
transport), has its own PID namespace (every process it starts dies with it), gets a fresh
environment, runs as an unprivileged uid when the grader is root, and has limits on memory,
processes and file size. Hidden references, solutions, the gradebook, the output folder, other
submissions, the source tree and the grader's home are simply not there.

When the sandbox cannot start, :func:`probe` raises :class:`SandboxUnavailable` saying what to do:
grading fails closed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

#: Where the kernel's private home is, inside the sandbox.
HOME = "/home/student"
#: The uid and gid the kernel runs as when the grader is root (``nobody``), unless it holds a slot.
UNPRIVILEGED = 65534
#: Uids of the slots (see :func:`uid_slot`): far above any account and any subordinate-id range.
SLOT_UIDS = range(2_000_000_000, 2_000_000_000 + 1024)
_GIB, _MIB = 1 << 30, 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Each field is read from ``$CVCOURSE_<FIELD>`` (upper case) when set.

    Attributes:
        memory: address space of each process in the sandbox, bytes (torch alone maps about 3.3 GiB); with
            a GPU, its private writable memory instead (the CUDA driver reserves far more address space
            than any limit that would stop a runaway allocation, and fails to start under one).
        processes: processes and threads of the sandbox's uid.
        file_size: largest file the kernel may write, bytes.
        tmp_size: size of the private ``/tmp`` and of the private home, bytes each (they live in memory).
        cell_timeout: wall-clock seconds a cell may run before it is interrupted.
        notebook_timeout: wall-clock seconds for the whole notebook, kernel start included.
        output_bytes: output a cell may produce before the rest is dropped (records excepted).
        device: the torch device of the kernel (its ``COURSE_DEVICE``): ``cpu``, whatever the machine has,
            unless a GPU is asked for (``cuda`` or ``cuda:N``). On the CPU a graded case computes what the
            reference computed bit for bit where the reference did (so an exercise that builds on
            another gets the reference's answers, :mod:`course_utils.replay`), and one exercise's CUDA
            error cannot spoil the checks after it (a device-side assert leaves the kernel's CUDA
            context unusable); graded cells are short, so the CPU costs little.
    """

    memory: int = 8 * _GIB
    processes: int = 512
    file_size: int = 256 * _MIB
    tmp_size: int = 512 * _MIB
    cell_timeout: int = 60
    notebook_timeout: int = 900
    output_bytes: int = 2 * _MIB
    device: str = "cpu"

    def __post_init__(self):
        if self.device != "cpu" and not re.fullmatch(r"cuda(:\d+)?", self.device):
            raise ValueError(f"a graded kernel's device is cpu or cuda[:N], not {self.device!r}")

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, overridden by ``$CVCOURSE_MEMORY``, ``$CVCOURSE_CELL_TIMEOUT``, ... (integers) and
        ``$CVCOURSE_DEVICE``."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"CVCOURSE_{f.name.upper()}")
            if raw and f.name == "device":
                values[f.name] = raw.strip()
            elif raw:
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ValueError(f"$CVCOURSE_{f.name.upper()} must be an integer, not {raw!r}") from None
        return cls(**values)

    @property
    def gpu(self) -> bool:
        return self.device != "cpu"

    def describe(self) -> list[str]:
        """One line per limit, for the README and ``cvcourse doctor``."""
        return [f"memory {self.memory / _GIB:g} GiB per process", f"processes {self.processes}",
                f"file size {self.file_size / _MIB:g} MiB", f"/tmp and home {self.tmp_size / _MIB:g} MiB each",
                f"cell {self.cell_timeout} s", f"notebook {self.notebook_timeout} s",
                f"output {self.output_bytes / _MIB:g} MiB per cell", f"device {self.device}"]


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start on this machine; the message says what to do."""


_ADVICE = (
    "Student kernels run in a bubblewrap sandbox and grading stops without one.\n"
    "  - Debian/Ubuntu: `sudo apt-get install bubblewrap` (the bootstrap does this when run as root).\n"
    "  - Ubuntu 24.04 restricts unprivileged user namespaces with AppArmor: allow bwrap with an AppArmor\n"
    "    profile (see the README) or `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`.\n"
    "  - In Docker, run the grader with `--security-opt seccomp=unconfined` (or a profile that allows\n"
    "    unshare and mount), or grade on a host or virtual machine.\n"
    "  - To grade without a sandbox anyway (trusted submissions only), pass --no-sandbox; the report says so."
)


def _course_utils() -> Path:
    """The folder of the course library this process imports."""
    import course_utils

    return Path(course_utils.__file__).resolve().parent


def _read_only_roots() -> list[Path]:
    """Folders the kernel needs to read: the system's, the interpreter's, the environment's, the library."""
    roots = [Path(p) for p in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")]
    for path in (Path(sys.prefix), Path(sys.base_prefix), Path(sysconfig.get_paths()["purelib"])):
        # an environment may link to another's packages (one install shared by a hub's accounts): the
        # link comes with the folder that holds it, and its target is bound where it points
        if not path.is_symlink():
            roots.append(path)
        if path.resolve() != path:
            roots.append(path.resolve())
    roots.append(_course_utils())
    cache = _torch_cache()
    if cache is not None:
        roots.append(cache)
    return roots


def _torch_cache() -> Path | None:
    """torchvision's weight cache, if there is one: the notebooks use cached ImageNet weights."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    path = Path(home) / "hub" / "checkpoints"
    return path.resolve() if path.is_dir() else None


#: Files of /etc the interpreter and its libraries read (dynamic linker, users, fonts, time zone).
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime",
        "fonts", "alternatives", "mime.types")


def _dirs(path: Path, made: set[Path]) -> list[str]:
    """bwrap arguments that create ``path``'s missing parents, each readable by everyone."""
    args = []
    for parent in reversed(path.parents):
        if parent != Path("/") and parent not in made:
            made.add(parent)
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def environment(scratch: Path, extra: dict[str, str], device: str = "cpu") -> dict[str, str]:
    """The kernel's whole environment, nothing inherited from the grader but which GPUs are visible;
    ``device`` is its ``COURSE_DEVICE`` (:attr:`Limits.device`)."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME, "USER": "student", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
        "MPLCONFIGDIR": f"{HOME}/.matplotlib", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
        # one thread each: graded cells are small, and a loaded machine then stays predictable
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "COURSE_OFFLINE": "1", "COURSE_FIGURE_DIR": str(scratch / "figures"),
        # the course library the grader itself imports (a checkout's, not another one an install points at);
        # only its own folder is bound there, so nothing else of that checkout can be read
        "PYTHONPATH": str(_course_utils().parent),
    }
    env["COURSE_DEVICE"] = device
    if os.environ.get("CUDA_VISIBLE_DEVICES"):
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    cache = _torch_cache()
    if cache is not None:
        env["TORCH_HOME"] = str(cache.parent.parent)
    env.update(extra)
    return env


def command(argv: list[str], writable: list[Path], cwd: Path, env: dict[str, str], limits: Limits,
            uid: int = UNPRIVILEGED) -> list[str]:
    """The command that runs ``argv`` in a sandbox where only ``writable`` folders can be written.

    Args:
        argv: the program and its arguments (e.g. an ipykernel launcher).
        writable: host folders bound read-write at the same paths (the job's scratch and socket folders).
        cwd: working directory inside the sandbox (one of ``writable``).
        env: the complete environment of ``argv``.
        limits: memory, processes and file size are applied to every process inside.
        uid: the uid and gid inside when the grader is root (a :func:`uid_slot`'s, when sandboxes run side
            by side: the process limit counts every process of a uid on the machine).
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (`bwrap`) is not installed.\n" + _ADVICE)
    root = os.geteuid() == 0
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "sandbox", "--clearenv"]
    if not root:
        args.append("--unshare-user")
    # private memory-backed folders first: later binds (a checkout under /tmp, say) go on top of them
    args += ["--proc", "/proc", "--dev", "/dev"]
    for tmp in ("/tmp", "/dev/shm", HOME):
        args += ["--perms", "1777", "--size", str(limits.tmp_size), "--tmpfs", tmp]
    made: set[Path] = {Path("/tmp"), Path("/dev"), Path("/dev/shm"), *Path(HOME).parents, Path(HOME)}
    for path in dict.fromkeys(_read_only_roots()):
        if path.exists():
            args += _dirs(path, made) + ["--ro-bind", str(path), str(path)]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    if limits.gpu:  # the GPU's device files, and what its driver reads of the machine
        for dev in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind-try", str(dev), str(dev)]
        args += ["--ro-bind-try", "/sys", "/sys"]
    for path in writable:
        args += _dirs(path, made) + ["--bind", str(path), str(path)]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--chdir", str(cwd), "--"]
    # limits first (as root inside, so that they cannot be raised again), then drop to an unprivileged uid
    memory = f"--data={limits.memory}" if limits.gpu else f"--as={limits.memory}"  # see Limits.memory
    args += ["prlimit", memory, f"--nproc={limits.processes}", f"--fsize={limits.file_size}", "--core=0", "--"]
    if root:
        args += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return args + argv


def prepare_writable(path: Path, uid: int = UNPRIVILEGED) -> Path:
    """Create a folder the sandboxed kernel may write (owned by its ``uid`` when the grader is root)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        for p in [path, *path.rglob("*")]:
            os.chown(p, uid, uid, follow_symlinks=False)
    return path


@contextlib.contextmanager
def uid_slot() -> Iterator[int]:
    """A uid from :data:`SLOT_UIDS` that no other sandbox on this machine holds, until the block ends.

    Sandboxes that run side by side (``cvcourse grade --workers``, several Dask workers on one machine)
    each need their own uid: the limit on processes counts all processes of a uid, so a fork bomb in one
    sandbox would otherwise stop the kernel next to it from starting a thread. A slot is held with a lock
    on a file in the system's temporary folder, which every grading process on the machine sees, and is
    free again when its holder ends, however it ends. A grader that is not root has no uids to hand out
    (its kernels run as itself, in user namespaces of their own): it gets :data:`UNPRIVILEGED`, unused.
    """
    if os.geteuid() != 0:
        yield UNPRIVILEGED
        return
    folder = Path(tempfile.gettempdir()) / "cvcourse-uid-slots"
    folder.mkdir(mode=0o700, exist_ok=True)
    for uid in SLOT_UIDS:
        lock = open(folder / str(uid), "w")  # noqa: SIM115 - held for the whole block
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        try:
            yield uid
        finally:
            lock.close()
        return
    raise RuntimeError(f"all {len(SLOT_UIDS)} sandbox uids are in use on this machine")


_probed: bool = False


def probe(workdir: Path) -> None:
    """Start a sandbox once and check what the kernel will rely on; raise :class:`SandboxUnavailable`.

    The check runs the course's interpreter inside, imports the course library and confirms that the
    network is gone and that the sandbox's uid is not root; when the kernels are to use a GPU
    (:attr:`Limits.device`), that torch reaches it from inside.
    """
    global _probed
    if _probed:
        return
    scratch = prepare_writable(workdir / "probe")
    script = ("import os, socket, course_utils\n"
              "assert os.getuid() != 0, 'the kernel would run as root'\n"
              "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=1)\nexcept OSError:\n    pass\n"
              "else:\n    raise SystemExit('network reachable')\n"
              "open('ok', 'w').write('ok')\n")
    limits = Limits.from_env()
    if limits.gpu:
        script = ("import torch, course_utils\n"
                  "try:\n    torch.ones(2, device=course_utils.get_device()).sum().item()\n"
                  "except Exception as exc:\n    raise SystemExit('NO-GPU ' + str(exc).splitlines()[0])\n" + script)
    argv = command([sys.executable, "-c", script], [scratch], scratch, environment(scratch, {}, limits.device), limits)
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"the sandbox did not start: {exc}\n" + _ADVICE) from None
    if run.returncode != 0 or not (scratch / "ok").exists():
        detail = (run.stderr or run.stdout).strip().splitlines()[-3:]
        if detail and detail[-1].startswith("NO-GPU "):
            raise SandboxUnavailable(f"$CVCOURSE_DEVICE={limits.device}, but a sandboxed kernel cannot use it: "
                                     f"{detail[-1][7:]}.\nGrade on the CPU (unset CVCOURSE_DEVICE), or give "
                                     "the sandbox the GPU's device files (/dev/nvidia*).")
        raise SandboxUnavailable("the sandbox did not start: " + (" | ".join(detail) or f"exit {run.returncode}")
                                 + "\n" + _ADVICE)
    shutil.rmtree(scratch, ignore_errors=True)
    _probed = True
