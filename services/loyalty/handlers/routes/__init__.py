"""Loyalty API routers, one per area (the wallet areas: coupons, rewards, adjustments, receipts,
parking, wechatpay)."""
