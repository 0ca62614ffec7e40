# aps_tiny_digits.py with targets from an EMA copy of backbone + projector (decay 0.99).
_base_ = ['./aps_tiny_digits.py']
model = dict(ema_momentum=0.01)
