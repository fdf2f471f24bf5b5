//! `type: teams`: the section is the webhook chats' ([`ChatWebhookConfig`]).

pub use crate::sinks::chat_webhook::ChatWebhookConfig;

/// `type: teams`.
pub type TeamsConfig = ChatWebhookConfig;
