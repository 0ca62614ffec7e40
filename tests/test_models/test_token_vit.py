"""TokenSubsetViT: mmpretrain's ViT on all tokens, a hand-built subset encoding,
and weights that move both ways between it and mmpretrain's VisionTransformer."""

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import build_2d_sincos_position_embedding

import csml_mm  # noqa: F401
from csml_mm.models.backbones import TokenSubsetViT

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
COMMON = dict(arch=ARCH, img_size=16, patch_size=4, norm_cfg=dict(type='LN', eps=1e-5))


def _randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial values everywhere (cls token, every pos-embed row, biases)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


@pytest.mark.parametrize('qkv_bias', [True, False])
def test_all_tokens_equal_mmpretrain_vit(qkv_bias):
    ref = VisionTransformer(qkv_bias=qkv_bias, **COMMON)
    ref.eval()
    _randomise(ref)
    ours = TokenSubsetViT(cls_pos_embed=True, qkv_bias=qkv_bias, **COMMON)
    ours.eval()
    assert set(ours.state_dict()) == set(ref.state_dict())  # identical key layout
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(3, 3, 16, 16)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=0)
    ids = torch.arange(16).repeat(3, 1)
    torch.testing.assert_close(ours(x, ids)[0], ref(x)[0], rtol=1e-6, atol=1e-6)


def test_aps_weights_load_into_mmpretrain_and_back():
    x = torch.randn(2, 3, 16, 16)
    # APS options (cls token without position): its state dict in mmpretrain's ViT.
    aps = TokenSubsetViT(qkv_bias=False, **COMMON)
    aps.init_weights()
    assert torch.count_nonzero(aps.pos_embed[:, 0]) == 0
    assert torch.count_nonzero(aps.cls_token) > 0
    aps.eval()
    ref = VisionTransformer(qkv_bias=False, **COMMON)
    ref.eval()
    ref.load_state_dict(aps.state_dict(), strict=True)
    torch.testing.assert_close(ref(x)[0], aps(x)[0], rtol=1e-6, atol=1e-6)
    # An mmpretrain ViT with a position on its class token: folded into cls_token.
    ref2 = VisionTransformer(qkv_bias=False, **COMMON)
    ref2.eval()
    _randomise(ref2, seed=3)
    aps.load_state_dict(ref2.state_dict(), strict=True)
    assert torch.count_nonzero(aps.pos_embed[:, 0]) == 0
    torch.testing.assert_close(aps(x)[0], ref2(x)[0], rtol=1e-6, atol=1e-6)
    # Prefixed, as in an APS checkpoint loaded through a parent module.
    wrapped = torch.nn.Module()
    wrapped.backbone = VisionTransformer(qkv_bias=False, **COMMON)
    wrapped.backbone.eval()
    wrapped.load_state_dict({f'backbone.{k}': v for k, v in aps.state_dict().items()})
    torch.testing.assert_close(wrapped.backbone(x)[0], ref2(x)[0], rtol=1e-6, atol=1e-6)


def _by_hand(model: TokenSubsetViT, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Patchify with unfold, add the position of each patch, keep the chosen ones,
    prepend the class token without position, run the blocks, final norm, cls output."""
    conv = model.patch_embed.projection
    p = conv.kernel_size[0]
    cols = F.unfold(x, kernel_size=p, stride=p)  # [B, 3*p*p, N], row-major patches
    tokens = cols.transpose(1, 2) @ conv.weight.flatten(1).t() + conv.bias
    tokens = tokens + model.pos_embed[:, 1:]
    chosen = torch.stack([tokens[b, ids[b]] for b in range(x.shape[0])])
    seq = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), chosen], dim=1)
    for layer in model.layers:
        seq = layer(seq)
    return model.ln1(seq)[:, 0]


def test_subset_equals_encoding_the_subset_by_hand():
    model = TokenSubsetViT(qkv_bias=False, **COMMON)
    model.eval()  # (mmpretrain backbones' train() returns None: no chaining)
    _randomise(model, seed=1)
    x = torch.randn(2, 3, 16, 16)
    ids = torch.tensor([[0, 5, 7, 12], [15, 3, 9, 1]])
    out = model(x, ids)[0]
    torch.testing.assert_close(out, _by_hand(model, x, ids), rtol=1e-5, atol=1e-5)
    # The order of the ids does not matter (positions are added before gathering).
    torch.testing.assert_close(model(x, ids.flip(1))[0], out, rtol=1e-5, atol=1e-5)
    # But which patches are chosen does.
    assert not torch.allclose(model(x, torch.tensor([[1, 2, 3, 4]] * 2))[0], out)


def test_cls_row_gets_no_gradient_and_sincos_is_fixed():
    model = TokenSubsetViT(qkv_bias=False, **COMMON)
    model.init_weights()
    out = model(torch.randn(2, 3, 16, 16), torch.tensor([[0, 1], [2, 3]]))[0]
    (out * torch.randn_like(out)).sum().backward()  # (a plain sum after LayerNorm is constant)
    assert torch.count_nonzero(model.pos_embed.grad[:, 0]) == 0
    assert torch.count_nonzero(model.pos_embed.grad[:, 1:3]) > 0
    assert torch.count_nonzero(model.pos_embed.grad[:, 5:]) == 0  # unchosen patches
    sincos = TokenSubsetViT(pos_embed_type='sincos', **COMMON)
    sincos.init_weights()
    assert not sincos.pos_embed.requires_grad
    torch.testing.assert_close(
        sincos.pos_embed, build_2d_sincos_position_embedding(4, 32, cls_token=True)
    )


def test_bad_inputs():
    with pytest.raises(ValueError, match='not divisible by patch_size'):
        TokenSubsetViT(arch=ARCH, img_size=18, patch_size=4)
    with pytest.raises(ValueError, match='pos_embed_type'):
        TokenSubsetViT(pos_embed_type='rope', **COMMON)
    model = TokenSubsetViT(**COMMON)
    with pytest.raises(ValueError, match=r'\[0, 16\)'):
        model(torch.randn(1, 3, 16, 16), torch.tensor([[3, 16]]))
    with pytest.raises(ValueError, match='batch=1'):
        model(torch.randn(1, 3, 16, 16), torch.tensor([[3], [4]]))
    with pytest.raises(ValueError, match='featmap'):
        TokenSubsetViT(out_type='featmap', **COMMON)(torch.randn(1, 3, 16, 16), torch.tensor([[1]]))
