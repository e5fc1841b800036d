"""Mutants and alternative answers of assignment 03 (beyond the ``partial`` sample's bugs).

``Down`` and ``Up`` build on ``DoubleConv``, ``UNet`` on all three and ``mean_iou`` on ``iou_per_class``:
their calls of what they build on are answered by the reference (``builds_on``), so the mutants in
``DoubleConv``, ``Down``, ``Up`` and ``iou_per_class`` below must cost only their own exercise. Those
mutants are bugs of ``forward`` (or of a layer without parameters, like the pooling's rounding): a wrong
layer with parameters in ``DoubleConv.__init__`` (a bias, a kernel size) changes the parameters, and so
the parameter count and the replay keys, of every module that holds a ``DoubleConv``, which cannot be
isolated.
"""

from autograder.assignments import Bug

from . import Alternative

MUTANTS = [
    # wrong order, in an exercise that three others build on
    Bug("double_conv", "x = F.relu(self.bn1(self.conv1(x)))", "x = self.bn1(F.relu(self.conv1(x)))",
        "applies the first ReLU before the batch norm"),
    Bug("double_conv", "return F.relu(self.bn2(self.conv2(x)))", "return F.relu(self.bn1(self.conv2(x)))",
        "reuses bn1 in the second round (bn2 is built but never used)"),
    # boundary: odd sizes round up; a pooling layer has no parameters, so UNet's replays still hold
    Bug("down", "self.pool = nn.MaxPool2d(2)", "self.pool = nn.MaxPool2d(2, ceil_mode=True)",
        "rounds odd sizes up when pooling"),
    Bug("down", "return self.conv(self.pool(x))", "return self.pool(self.conv(x))",
        "applies the double convolution before the pooling"),
    # wrong order of the concatenation
    Bug("up", "x = torch.cat([skip, x], dim=1)", "x = torch.cat([x, skip], dim=1)",
        "concatenates [upsampled, skip] instead of [skip, upsampled]"),
    # boundary: the odd extra row and column go to the top and the left
    Bug("up", "x = F.pad(x, (cols // 2, cols - cols // 2, rows // 2, rows - rows // 2))",
        "x = F.pad(x, (cols - cols // 2, cols // 2, rows - rows // 2, rows // 2))",
        "pads the odd extra row on top and the odd extra column on the left"),
    # changed its input: without skips the skip has the upsampled map's shape and becomes the canvas
    Bug("up", "        x = F.pad(x, (cols // 2, cols - cols // 2, rows // 2, rows - rows // 2))\n"
              "        if self.use_skip:\n"
              "            x = torch.cat([skip, x], dim=1)",
        "        if self.use_skip:\n"
        "            x = torch.cat([skip, F.pad(x, (cols // 2, cols - cols // 2, rows // 2, rows - rows // 2))], 1)\n"
        "        else:\n"
        "            canvas = skip.zero_()\n"
        "            canvas[:, :, rows // 2:rows // 2 + x.shape[-2], cols // 2:cols // 2 + x.shape[-1]] = x\n"
        "            x = canvas",
        "zeroes the skip in place to use it as the padding canvas when use_skip=False"),
    # a default at the wrong value: only the case that builds UNet(1, 2) with its defaults sees it
    Bug("unet", "base=8, depth=3, skip=True", "base=16, depth=3, skip=True",
        "defaults to 16 channels at full resolution"),
    Bug("unet", "x = up(x, skips.pop())", "x = up(x, skips.pop(0))",
        "hands the skips to the decoder in the encoder's order (first in, first out)"),
    # differentiability: the value is right, the gradient is gone
    Bug("pixel_cross_entropy", "    return losses.sum() / valid.sum().clamp(min=1)",
        "    return torch.tensor((losses.sum() / valid.sum().clamp(min=1)).item(), dtype=logits.dtype)",
        "rebuilds the loss from a Python number, which cuts it off the graph"),
    # an optional argument at another value than its default
    Bug("pixel_cross_entropy", "valid = target != ignore_index", "valid = target != 255",
        "ignores the argument ignore_index and always drops 255"),
    # dtype slip: float32 counts (exact values)
    Bug("confusion_matrix", "    return conf", "    return conf.float()",
        "returns the counts as float32"),
    Bug("confusion_matrix", "valid = target != ignore_index", "valid = target < num_classes",
        "drops the labels >= K as void, which misses ignore_index=-1"),
    # changed its input: zeroes the diagonal of conf in place to sum the errors (values are right)
    Bug("iou_per_class", "    conf = conf.double()\n    tp = conf.diagonal()\n"
                         "    union = conf.sum(dim=1) + conf.sum(dim=0) - tp",
        "    tp = conf.diagonal().double()\n    conf.fill_diagonal_(0)\n"
        "    union = tp + conf.sum(dim=1) + conf.sum(dim=0)",
        "zeroes the diagonal of conf in place to get FN + FP from the row and column sums"),
    # dtype slip: float32 IoU (values within rtol of float64)
    Bug("iou_per_class", "conf = conf.double()", "conf = conf.float()", "computes in float32"),
    Bug("iou_per_class", "torch.ones_like(tp)", "torch.zeros_like(tp)",
        "scores a class that occurs nowhere 0 instead of 1"),
    # boundary: a class only in the truth (empty column) must count; only the case with one sees it
    Bug("mean_iou", "present = (conf.sum(dim=0) + conf.sum(dim=1)) > 0", "present = conf.sum(dim=0) > 0",
        "averages over the predicted classes only (non-empty column)"),
    Bug("mean_iou", "return iou[present].mean().item()", "return iou[present].mean()",
        "returns a 0-dim tensor instead of a Python float"),
    # boundary: a class only in the prediction must score 0; only the case with one sees it
    Bug("dice_per_class", "present = sizes > 0", "present = in_target.sum(dim=1) > 0",
        "scores only the classes of the truth, so a class only predicted keeps 1.0"),
    # changed its input: marks the void pixels in pred (values are right)
    Bug("dice_per_class", "    valid = target != ignore_index\n",
        "    valid = target != ignore_index\n    pred[~valid] = num_classes\n",
        "writes a class that is never counted into pred at the void pixels"),
]

ALTERNATIVES = [
    Alternative("double_conv", '''class DoubleConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2)):
            x = self.relu(bn(conv(x)))
        return x''', "a loop over the two rounds, an in-place ReLU module on fresh maps"),
    Alternative("down", '''class Down(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x):
        return self.conv(F.max_pool2d(x, 2))''', "functional max-pooling in forward"),
    Alternative("up", '''class Up(nn.Module):
    def __init__(self, in_channels, out_channels, use_skip=True):
        super().__init__()
        self.use_skip = use_skip
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels if use_skip else in_channels // 2, out_channels)

    def forward(self, x, skip):
        small = self.up(x)
        h, w = small.shape[-2:]
        top, left = (skip.shape[-2] - h) // 2, (skip.shape[-1] - w) // 2
        canvas = small.new_zeros(*small.shape[:2], *skip.shape[-2:])
        canvas[..., top:top + h, left:left + w] = small
        return self.conv(torch.cat((skip, canvas), 1) if self.use_skip else canvas)''',
        "pads by placing the upsampled map on a new zero canvas"),
    Alternative("unet", '''class UNet(nn.Module):
    def __init__(self, in_channels, num_classes, base=8, depth=3, skip=True):
        super().__init__()
        widths = [base * 2**i for i in range(depth + 1)]
        pairs = list(zip(widths[:-1], widths[1:]))
        self.inc = DoubleConv(in_channels, widths[0])
        self.downs = nn.ModuleList(Down(a, b) for a, b in pairs)
        self.ups = nn.ModuleList(Up(b, a, use_skip=skip) for a, b in reversed(pairs))
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x):
        levels = [self.inc(x)]
        for down in self.downs:
            levels.append(down(levels[-1]))
        y = levels.pop()
        for up in self.ups:
            y = up(y, levels.pop())
        return self.head(y)''', "widths from a list; every level kept, the bottleneck popped first"),
    Alternative("pixel_cross_entropy", '''def pixel_cross_entropy(logits, target, ignore_index=255):
    valid = target != ignore_index
    z = logits.movedim(1, -1)[valid]            # (M, K): the scores of the valid pixels
    t = target[valid]
    m = z.max(dim=1, keepdim=True).values       # not detached: its gradient cancels
    lse = (m + (z - m).exp().sum(dim=1, keepdim=True).log()).squeeze(1)
    onehot = torch.arange(z.shape[1], device=z.device) == t[:, None]
    picked = (z * onehot).sum(dim=1)
    return (lse - picked).sum() / max(int(valid.sum()), 1)''',
        "selects the valid pixels first, picks the target score with a one-hot mask"),
    Alternative("confusion_matrix", '''def confusion_matrix(pred, target, num_classes, ignore_index=255):
    valid = target != ignore_index
    pairs = target[valid] * num_classes + pred[valid]
    return torch.bincount(pairs, minlength=num_classes ** 2).reshape(num_classes, num_classes)''',
        "torch.bincount of t * K + p"),
    Alternative("iou_per_class", '''def iou_per_class(conf):
    tp = conf.diag()
    fn = conf.sum(dim=1) - tp
    fp = conf.sum(dim=0) - tp
    union = (tp + fp + fn).double()
    iou = tp.double() / union
    iou[union == 0] = 1.0
    return iou''', "TP, FN and FP spelled out; 0 / 0 overwritten afterwards"),
    Alternative("mean_iou", '''def mean_iou(conf):
    ious = iou_per_class(conf)
    present = [c for c in range(conf.shape[0]) if conf[c].any() or conf[:, c].any()]
    return sum(float(ious[c]) for c in present) / len(present) if present else 1.0''',
        "a loop over the classes, Python sum"),
    Alternative("dice_per_class", '''def dice_per_class(pred, target, num_classes, ignore_index=255):
    valid = target != ignore_index
    p = F.one_hot(pred[valid], num_classes)
    t = F.one_hot(target[valid], num_classes)
    overlap = (p * t).sum(dim=0).double()
    sizes = (p.sum(dim=0) + t.sum(dim=0)).double()
    return torch.where(sizes > 0, 2 * overlap / sizes.clamp(min=1), torch.ones_like(sizes))''',
        "F.one_hot masks, torch.where for the empty classes"),
]
