# WCL with the released code's heads (4096/256), 100 epochs (README: 68.5% linear top-1).
_base_ = ['./wcl_resnet50_32xb128-lars-coslr-100e_in1k.py']
model = dict(
    neck=dict(hid_channels=4096, out_channels=256),
    graph_neck=dict(hid_channels=4096, out_channels=256),
)
