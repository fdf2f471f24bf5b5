//! `type: googlechat` (alias `gchat`): the section is the webhook chats'
//! ([`ChatWebhookConfig`]).

pub use crate::sinks::chat_webhook::ChatWebhookConfig;

/// `type: googlechat`.
pub type GoogleChatConfig = ChatWebhookConfig;
