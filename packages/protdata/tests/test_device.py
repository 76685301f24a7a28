"""protdata.device: the device asked for, or a one-line error naming the caller's own setting."""

from __future__ import annotations

import pytest
import torch

from protdata.device import DeviceError, autocast_for, choose_device


def test_device_errors_name_the_callers_setting(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceError) as info:
        choose_device("cuda", name="--device")
    assert str(info.value).startswith("--device cuda: CUDA is not available") and "--device cpu" in str(
        info.value
    )
    with pytest.raises(DeviceError, match="precision: 'bf16' needs a CUDA device"):
        autocast_for(torch.device("cpu"), "bf16")
