"""The engine's primitives that the language names: strategies, roles, counters, features.

Platform files and shop policies refer to these by name; the checker rejects
names that are not here and suggests the closest one.
"""

from __future__ import annotations

STRATEGIES = {
    "idle_rate": "highest (max − current) / max first (Douyin 飞鸽)",
    "least_loaded": "fewest current consumers first",
    "round_robin": "each eligible agent in turn",
    "longest_idle": "the agent idle for the longest time first",
    "random": "a seeded random eligible agent",
}
TIE_BREAKS = {
    "random": "a seeded random choice among tied agents",
    "first": "the tied agent declared first in the policy",
    "round_robin": "tied agents in turn",
    "longest_idle": "the tied agent idle for the longest time",
}
ROLES = {"main": "主账号", "admin": "管理员", "cs_admin": "客服管理员", "agent": "客服"}
STATUSES = {"online": "在线", "busy": "忙碌", "offline": "离线"}
# Statuses a `reply status` may name: the replay sends a status auto reply only while the agent is busy.
REPLY_STATUSES = {"busy": "忙碌"}
QUEUE_ORDERS = {"fifo": "first queued, first served", "lifo": "last queued, first served"}
FALLBACKS = {
    "same_group": "an online agent of the previous agent's group",
    "any_online": "any online agent of the routing",
    "queue": "the queue",
}
MENU_ACTIONS = {"order_lookup": "订单查询", "new_arrivals": "新品上架", "shop_picks": "店铺推荐"}
METRIC_UNITS = {"question": "each consumer question", "consumer_day": "each consumer and day (咨询人数)"}
CLOCK_STARTS = {
    "question": "the first message of each question",
    "first_question": "the consumer's first question of the day in the window",
    "assignment": "the assignment of the consumer to a human agent",
}
# Auto-reply kinds, usable as effective senders in metrics.
AUTO_REPLY_KINDS = {
    "welcome": "开场白", "faq": "常见问题", "first_message": "首次消息自动回复",
    "keyword": "关键词回复", "closing": "结束语回复", "status": "客服状态自动回复",
    "product": "商品卡片自动回复", "order_card": "订单卡片自动回复", "offline": "离线自动回复",
    "menu": "聊天自助菜单",
}
METRIC_COUNTS = {
    "dedup_per_agent": "several receptions of one consumer by one sub-account count once",
    "transfer_without_reply_ineffective": "a transfer before any effective reply leaves the reception unanswered",
    "assistant_as_account": "the desk assistant counts as an account of its own",
    "assistant_unanswered_ineffective": "an assistant answer that could not help counts as an ineffective reply",
}
# A platform's `generate { … }` block: name -> (what it sets, the rate when the block does not set it).
# robot, system and assistant are also the senders of those messages: the platform must declare them.
GENERATE_RATES = {
    "robot": ("consumers whose first message the shop robot answers", 0.08),
    "system": ("consumers whose first message gets a system message", 0.04),
    "assistant": ("consumers whose first message the desk assistant answers", 0.01),
    "hand_end": ("conversations an agent ends by hand", 0.2),
}
GENERATED_SENDERS = ("robot", "system", "assistant")
METRIC_EVALUATION = {"same_day": "the day itself", "previous_day": "the day before signing up"}
CONDITION_VARIABLES = {"eligible": "questions or consumers counted", "met": "answered in time", "missed": "not answered in time", "rate": "met / eligible"}
LIMITS = {
    "max_sessions": "reception cap (接待上限) per agent or group",
    "faq_items": "FAQ questions that may be created",
    "faq_enabled": "FAQ questions that may be enabled",
    "faq_question_chars": "characters in one FAQ question",
    "faq_answer_chars": "characters in one FAQ answer",
    "product_replies": "product-card auto replies per shop",
    "products_per_reply": "products in one product-card auto reply",
    "offline_targets": "accounts that may receive offline routing",
    "offline_target_roles": "roles an offline-routing account must have",
    "reply_chars": "characters in one automatic reply",
}
FEATURES = {
    "page_routing": "页面分流", "group_routing": "客服组分流", "offline_routing": "离线分流",
    "offline_pool": "离线消息池", "repeat_entry": "重复入线", "queue": "排队",
    "queue_order": "排队接入顺序", "estimate_wait": "预估接待时间", "session_end": "会话自动结束",
    "welcome": "开场白", "faq": "常见问题", "first_message_reply": "首次消息自动回复",
    "keyword_reply": "关键词回复", "closing_reply": "结束语回复", "status_reply": "客服状态自动回复",
    "product_reply": "商品卡片自动回复", "order_card_reply": "订单卡片自动回复",
    "offline_reply": "离线自动回复", "menu": "聊天自助菜单", "quick_phrases": "快捷短语",
    "proactive_session": "主动会话", "transfer": "转接",
}
# Reply kind → the feature a platform must allow for it.
REPLY_FEATURES = {
    "welcome": "welcome", "first_message": "first_message_reply", "keyword": "keyword_reply",
    "closing": "closing_reply", "status": "status_reply", "product": "product_reply",
    "order_card": "order_card_reply", "offline": "offline_reply", "menu": "menu",
}
# Settings a platform may default and fix (names of ir.Settings fields).
SETTINGS = {
    "timezone": "time zone", "assign": "assignment strategy", "repeat_entry": "repeat-entry window",
    "queue": "queue mode", "session_end": "automatic session end", "history": "history window",
    "offline_pool": "offline message pool", "cooldown": "auto-reply loop guard",
}
