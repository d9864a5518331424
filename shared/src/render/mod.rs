//! Liquid rendering (placeholder until the render module lands).
pub mod value;
pub struct TemplateSources {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub push_title: Option<String>,
    pub push_body: Option<String>,
}
pub mod sample {
    pub fn retail_template() -> super::TemplateSources {
        super::TemplateSources {
            subject: "s".into(),
            html: "h".into(),
            text: "t".into(),
            push_title: None,
            push_body: None,
        }
    }
}
