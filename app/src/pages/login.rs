use crate::api::SignIn;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn LoginPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let error = move || sign_in.value().get().and_then(|r| r.err());
    view! {
        <Title text="Sign in · dirbridge" />
        <main class="login">
            <h1>"dirbridge"</h1>
            <p class="muted">"LDAP user federation console"</p>
            <ActionForm action=sign_in attr:class="card">
                <label for="username">"Username"</label>
                <input id="username" name="username" autocomplete="username" required value="admin" />
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required />
                {move || error().map(|e| view! { <p class="field-error" role="alert">{e.to_string()}</p> })}
                <button type="submit" class="primary" disabled=move || sign_in.pending().get()>
                    "Sign in"
                </button>
            </ActionForm>
        </main>
    }
}
