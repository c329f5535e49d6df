"""Dossier statuses as synchronised to the National Public Service Portal (1–10) and channels."""

from __future__ import annotations

from typing import Final

__all__ = ["CHANNELS", "CHANNEL_NAMES", "STATUS_NAMES", "Status"]


class Status:
    NEW = 1  # Mới đăng ký
    ACCEPTED = 2  # Được tiếp nhận
    REFUSED = 3  # Không được tiếp nhận
    PROCESSING = 4  # Đang xử lý
    SUPPLEMENT = 5  # Yêu cầu bổ sung giấy tờ
    FINANCIAL = 6  # Yêu cầu thực hiện nghĩa vụ tài chính
    WITHDRAWN = 7  # Công dân yêu cầu rút hồ sơ
    SUSPENDED = 8  # Dừng xử lý
    FINISHED = 9  # Đã xử lý xong
    RETURNED = 10  # Đã trả kết quả


STATUS_NAMES: Final[dict[int, str]] = {
    1: "Mới đăng ký",
    2: "Được tiếp nhận",
    3: "Không được tiếp nhận",
    4: "Đang xử lý",
    5: "Yêu cầu bổ sung giấy tờ",
    6: "Yêu cầu thực hiện nghĩa vụ tài chính",
    7: "Công dân yêu cầu rút hồ sơ",
    8: "Dừng xử lý",
    9: "Đã xử lý xong",
    10: "Đã trả kết quả",
}

# Channel codes as the portal uses them: 1 counter, 2 online, 3 public postal service.
CHANNELS: Final[dict[str, int]] = {"counter": 1, "online": 2, "post": 3}
CHANNEL_NAMES: Final[dict[str, str]] = {
    "counter": "Trực tiếp",
    "online": "Trực tuyến",
    "post": "Qua bưu chính công ích",
}
