pub mod groups;
pub mod layout;
pub mod login;
pub mod repositories;
pub mod repository_form;
pub mod store_list;
pub mod sync_panel;
pub mod users;
