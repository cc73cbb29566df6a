#![deny(clippy::unwrap_used)]

use dirbridge::{config, http};

// A sync decodes and maps millions of small strings: glibc malloc/free was
// over a third of the client's CPU in profiles; mimalloc halves that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let rotate = args.first().is_some_and(|a| a == "rotate-key");
    if rotate {
        args.remove(0);
    }
    let config = match config::parse(&args, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let filter =
        EnvFilter::try_from_env("DIRBRIDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,ldap3=warn"));
    if std::env::var("DIRBRIDGE_LOG_FORMAT").as_deref() == Ok("json") {
        tracing_subscriber::fmt().with_env_filter(filter).json().init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    dirbridge::allocator::configure_process();
    if rotate {
        match dirbridge::rotate_key(&config.data_dir).await {
            Ok(n) => {
                eprintln!("dirbridge: the secrets of {n} repositories are sealed under a new key");
                return;
            }
            Err(e) => {
                eprintln!("dirbridge rotate-key: {e}");
                std::process::exit(1);
            }
        }
    }

    let service = match dirbridge::open(&config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            std::process::exit(1);
        }
    };
    if let Some(address) = config.metrics_listen {
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => {
                tracing::info!(%address, "metrics without credentials on http://{address}/metrics");
                let metrics = http::metrics_router(service.clone());
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, metrics).await {
                        tracing::error!(error = %e, "metrics server error");
                    }
                });
            }
            Err(e) => {
                tracing::error!(error = %e, %address, "cannot listen for metrics");
                std::process::exit(1);
            }
        }
    }
    let app = http::router(service, http::leptos_options(config.listen));
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, listen = %config.listen, "cannot listen");
            std::process::exit(1);
        }
    };
    tracing::info!(listen = %config.listen, data_dir = %config.data_dir.display(), "dirbridge listening on http://{}", config.listen);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "server error");
        std::process::exit(1);
    }
}
