"""Reference data for ark's MobileNetV2 from torchvision 0.14's mobilenet_v2 (PyTorch 1.13).

Seeded random weights (BN affine parameters random, running statistics from a calibration batch
then perturbed, so eval-mode BN is neither the identity nor saturating), dropout 0 (train-mode outputs must be deterministic), 10 classes:
  param.<key>          torchvision's state_dict (what ark loads unchanged); its key order is in
                       the metadata's state_dict_keys
  input                (2, 3, 96, 96)
  eval_logits          model.eval()(input)
  train_logits         model.train()(input)
  grad.<param>         gradients of sum(train_logits * loss_weight) w.r.t. every parameter
  loss_weight          (2, 10)
  train_buffer.<key>   BN running statistics after that one train-mode forward
  keras_input          (2, 3, 97, 100): odd and even sizes, where TF and PyTorch padding differ
  keras_eval_logits    the same weights in Keras' graph: TF "same" padding on the stride-2 convs
                       (pad bottom/right), BN eps 1e-3 (ark's mobilenet_v2_keras)
Beside OUT, the same state_dict as torch.save writes it: mobilenet_v2_zip.pth (the zip format)
and mobilenet_v2_legacy.pth (_use_new_zipfile_serialization=False, inside a training checkpoint
{'state_dict': ..., 'epoch': 3}), for ark::load_weights.
Usage: mobilenet_reference.py OUT.safetensors
"""
import os
import sys

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402


def tf_same(size, k, s, d=1):
    out = (size + s - 1) // s
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def to_keras_graph(model):
    """TF 'same' padding for every strided conv (explicit F.pad, then a padding-free conv), eps 1e-3."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d) and m.stride[0] > 1:
            m.padding = (0, 0)

            def pad(mod, inputs):
                x = inputs[0]
                t, b = tf_same(x.shape[2], mod.kernel_size[0], mod.stride[0], mod.dilation[0])
                l, r = tf_same(x.shape[3], mod.kernel_size[1], mod.stride[1], mod.dilation[1])
                return (F.pad(x, (l, r, t, b)),)
            m.register_forward_pre_hook(pad)
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-3
    return model


def main():
    out_path = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = torchvision.models.mobilenet_v2(num_classes=10, dropout=0.0)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.1)
        # Running statistics from a calibration batch (then perturbed), so eval-mode activations
        # stay in ReLU6's working range instead of saturating to an input-independent output.
        for m in bns:
            m.momentum = 1.0
        model.train()(torch.rand(8, 3, 96, 96))
        for m in bns:
            m.momentum = 0.1
            m.running_mean.add_(torch.randn_like(m.running_mean) * 0.05)
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.2))
            m.num_batches_tracked.fill_(3)
        model.classifier[1].weight.uniform_(-0.1, 0.1)
        model.classifier[1].bias.uniform_(-0.1, 0.1)
    t = {"param." + k: v.clone() for k, v in model.state_dict().items()}
    out_dir = os.path.dirname(os.path.abspath(out_path))
    for name, obj, zipped in (("mobilenet_v2_zip.pth", model.state_dict(), True),
                              ("mobilenet_v2_legacy.pth", {"state_dict": model.state_dict(), "epoch": 3}, False)):
        tmp = os.path.join(out_dir, name + ".tmp")
        torch.save(obj, tmp, _use_new_zipfile_serialization=zipped)
        os.replace(tmp, os.path.join(out_dir, name))

    x = torch.rand(2, 3, 96, 96)
    t["input"] = x
    model.eval()
    with torch.no_grad():
        t["eval_logits"] = model(x)

    model.train()
    w = torch.randn(2, 10)
    t["loss_weight"] = w
    y = model(x)
    t["train_logits"] = y.detach()
    (y * w).sum().backward()
    for k, p in model.named_parameters():
        t["grad." + k] = p.grad.clone()
    for k, b in model.named_buffers():
        if "running" in k:
            t["train_buffer." + k] = b.clone()

    keras = torchvision.models.mobilenet_v2(num_classes=10, dropout=0.0)
    keras.load_state_dict({k[len("param."):]: v for k, v in t.items() if k.startswith("param.")})
    keras = to_keras_graph(keras).eval()
    xk = torch.rand(2, 3, 97, 100)
    t["keras_input"] = xk
    with torch.no_grad():
        t["keras_eval_logits"] = keras(xk)

    safetensors_py.save(out_path, t, {"script": "tools/reference/mobilenet_reference.py", "torch": torch.__version__,
                                      "torchvision": torchvision.__version__,
                                      "state_dict_keys": ",".join(model.state_dict().keys())})


if __name__ == "__main__":
    main()
