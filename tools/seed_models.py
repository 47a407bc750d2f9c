"""The seed's two U-Nets in plain PyTorch, with the module structure — and so the
state_dict keys — of the public HuBMAP notebooks (fastai's ConvLayer, PixelShuffle_ICNR
and UnetBlock; torchvision's resnext50_32x4d; efficientnet_pytorch 0.7.1). No fastai or
torchvision needed; pretrained weights are never downloaded (users bring checkpoints).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import weight_norm


def conv_layer(ni, nf, ks=3, norm=None, act=True, weight_normed=False):
    """fastai ConvLayer: Sequential(conv[, bn][, ReLU]); bias unless batch-normed."""
    conv = nn.Conv2d(ni, nf, ks, padding=(ks - 1) // 2, bias=norm is None)
    if weight_normed:
        conv = weight_norm(conv)
    layers = [conv]
    if norm == "batch":
        layers.append(nn.BatchNorm2d(nf))
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class PixelShuffleICNR(nn.Sequential):
    """fastai PixelShuffle_ICNR(ni, nf): weight-normed 1x1 ConvLayer to nf*4, ReLU, shuffle."""
    def __init__(self, ni, nf):
        super().__init__(conv_layer(ni, nf * 4, ks=1, weight_normed=True), nn.PixelShuffle(2))


class UnetBlock(nn.Module):
    def __init__(self, up_in_c, x_in_c, nf):
        super().__init__()
        self.shuf = PixelShuffleICNR(up_in_c, up_in_c // 2)
        self.bn = nn.BatchNorm2d(x_in_c)
        ni = up_in_c // 2 + x_in_c
        self.conv1 = conv_layer(ni, nf)
        self.conv2 = conv_layer(nf, nf)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, up_in, left_in):
        up_out = self.shuf(up_in)
        cat_x = self.relu(torch.cat([up_out, self.bn(left_in)], dim=1))
        return self.conv2(self.conv1(cat_x))


class ASPPModule(nn.Module):
    def __init__(self, inplanes, planes, kernel_size, padding, dilation, groups=1):
        super().__init__()
        self.atrous_conv = nn.Conv2d(inplanes, planes, kernel_size=kernel_size, stride=1, padding=padding,
                                     dilation=dilation, bias=False, groups=groups)
        self.bn = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.atrous_conv(x)))


class ASPP(nn.Module):
    def __init__(self, inplanes=512, mid_c=256, dilations=(6, 12, 18, 24), out_c=None):
        super().__init__()
        self.aspps = nn.ModuleList([ASPPModule(inplanes, mid_c, 1, padding=0, dilation=1)] +
                                   [ASPPModule(inplanes, mid_c, 3, padding=d, dilation=d, groups=4) for d in dilations])
        self.global_pool = nn.Sequential(nn.AdaptiveMaxPool2d((1, 1)), nn.Conv2d(inplanes, mid_c, 1, stride=1, bias=False),
                                         nn.BatchNorm2d(mid_c), nn.ReLU())
        out_c = out_c if out_c is not None else mid_c
        self.out_conv = nn.Sequential(nn.Conv2d(mid_c * (2 + len(dilations)), out_c, 1, bias=False),
                                      nn.BatchNorm2d(out_c), nn.ReLU(inplace=True))
        self.conv1 = nn.Conv2d(mid_c * (2 + len(dilations)), out_c, 1, bias=False)  # unused, as in the notebook

    def forward(self, x):
        x0 = self.global_pool(x)
        xs = [aspp(x) for aspp in self.aspps]
        x0 = F.interpolate(x0, size=xs[0].size()[2:], mode="bilinear", align_corners=True)
        return self.out_conv(torch.cat([x0] + xs, dim=1))


class FPN(nn.Module):
    def __init__(self, input_channels, output_channels):
        super().__init__()
        self.convs = nn.ModuleList([nn.Sequential(nn.Conv2d(i, o * 2, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                                                  nn.BatchNorm2d(o * 2), nn.Conv2d(o * 2, o, kernel_size=3, padding=1))
                                    for i, o in zip(input_channels, output_channels)])

    def forward(self, xs, last_layer):
        hcs = [F.interpolate(c(x), scale_factor=2 ** (len(self.convs) - i), mode="bilinear")
               for i, (c, x) in enumerate(zip(self.convs, xs))]
        hcs.append(last_layer)
        return torch.cat(hcs, dim=1)


class Bottleneck(nn.Module):
    """torchvision's ResNet Bottleneck (stride on the 3x3), for resnext50_32x4d."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=32, base_width=4):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


def resnext_layer(inplanes, planes, blocks, stride):
    downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4))
    layers = [Bottleneck(inplanes, planes, stride, downsample)]
    layers += [Bottleneck(planes * 4, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class UneXt50(nn.Module):
    def __init__(self, stride=1):
        super().__init__()
        self.enc0 = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.enc1 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=2, padding=1), resnext_layer(64, 64, 3, 1))
        self.enc2 = resnext_layer(256, 128, 4, 2)
        self.enc3 = resnext_layer(512, 256, 6, 2)
        self.enc4 = resnext_layer(1024, 512, 3, 2)
        self.aspp = ASPP(2048, 256, out_c=512, dilations=[stride * 1, stride * 2, stride * 3, stride * 4])
        self.drop_aspp = nn.Dropout2d(0.5)
        self.dec4 = UnetBlock(512, 1024, 256)
        self.dec3 = UnetBlock(256, 512, 128)
        self.dec2 = UnetBlock(128, 256, 64)
        self.dec1 = UnetBlock(64, 64, 32)
        self.fpn = FPN([512, 256, 128, 64], [16] * 4)
        self.drop = nn.Dropout2d(0.1)
        self.final_conv = conv_layer(32 + 16 * 4, 1, ks=1, act=False)

    def encode(self, x):
        enc0 = self.enc0(x)
        enc1 = self.enc1(enc0)
        enc2 = self.enc2(enc1)
        enc3 = self.enc3(enc2)
        enc4 = self.enc4(enc3)
        return [enc0, enc1, enc2, enc3, enc4]

    def decode(self, features):
        enc0, enc1, enc2, enc3, enc4 = features
        enc5 = self.aspp(enc4)
        dec3 = self.dec4(self.drop_aspp(enc5), enc3)
        dec2 = self.dec3(dec3, enc2)
        dec1 = self.dec2(dec2, enc1)
        dec0 = self.dec1(dec1, enc0)
        x = self.fpn([enc5, dec3, dec2, dec1], dec0)
        x = self.final_conv(self.drop(x))
        return F.interpolate(x, scale_factor=2, mode="bilinear")

    def forward(self, x):
        return self.decode(self.encode(x))


class EffUnet(nn.Module):
    """The seed's EffUnet: EfficientNet encoder (stem and /4, /8, /16, /32 stage ends)."""
    def __init__(self, variant="b5"):
        super().__init__()
        from efficientnet_pytorch import EfficientNet
        self.encoder = EfficientNet.from_name("efficientnet-" + variant)
        gp = self.encoder._global_params
        from efficientnet_pytorch.utils import round_filters, round_repeats
        c2, c4, c8, c16, c32 = [round_filters(f, gp) for f in (32, 24, 40, 112, 320)]
        ends, index = [], 0
        for repeats in [1, 2, 2, 3, 3, 4, 1]:
            index += round_repeats(repeats, gp)
            ends.append(index - 1)
        self.ends = (ends[1], ends[2], ends[4], ends[6])
        self.aspp = ASPP(c32, 256, out_c=384, dilations=[1, 2, 3, 4])
        self.drop_aspp = nn.Dropout2d(0.5)
        self.dec4 = UnetBlock(384, c16, 256)
        self.dec3 = UnetBlock(256, c8, 128)
        self.dec2 = UnetBlock(128, c4, 64)
        self.dec1 = UnetBlock(64, c2, 32)
        self.fpn = FPN([384, 256, 128, 64], [16] * 4)
        self.drop = nn.Dropout2d(0.1)
        self.final_conv = conv_layer(32 + 16 * 4, 1, ks=1, act=False)

    def encode(self, x):
        e = self.encoder
        y = e._swish(e._bn0(e._conv_stem(x)))
        features = [y]
        for i, block in enumerate(e._blocks):
            y = block(y)
            if i in self.ends:
                features.append(y)
        return features

    decode = UneXt50.decode

    def forward(self, x):
        return self.decode(self.encode(x))
