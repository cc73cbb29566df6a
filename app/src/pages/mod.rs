pub mod layout;
pub mod login;
pub mod repositories;
pub mod repository_form;
