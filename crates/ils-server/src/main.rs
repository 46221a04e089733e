//! `ils-server`: run ILS Central, migrate its database, bootstrap the platform, seed a demo.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ils_core::{AiConfig, CompanyStatus, Role, SubscriptionTier};
use ils_server::accounts::NewUserInput;
use ils_server::tenants::{self, NewTenantInput};
use ils_server::{AppState, Settings, db, http, telemetry};

/// mimalloc instead of the system allocator: a request allocates and frees many small buffers
/// (headers, SQL text, rows, JSON) across the runtime's threads, where glibc's malloc spent
/// about a tenth of the server's CPU (README, performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ils-server",
    version,
    about = "ILS Central: the multi-tenant service"
)]
struct Cli {
    /// A TOML settings file; `ILS_*` environment variables override it.
    #[arg(long, global = true, env = "ILS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Apply the database migrations (with `database.migrate_url`, the owner's connection).
    Migrate,
    /// Create the platform operator's company and first platform administrator, once. The
    /// password is read from ILS_BOOTSTRAP_PASSWORD.
    Bootstrap {
        #[arg(long, default_value = "ILS Platform")]
        name: String,
        #[arg(long)]
        domain: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Platform")]
        first_name: String,
        #[arg(long, default_value = "Operator")]
        last_name: String,
    },
    /// Create a demo tenant with a company administrator and an ECP, once. Passwords are read
    /// from ILS_DEMO_ADMIN_PASSWORD and ILS_DEMO_ECP_PASSWORD.
    SeedDemo {
        #[arg(long, default_value = "demo.ils.local")]
        domain: String,
    },
    /// Print the OpenAPI document (the one served at /api/openapi.json) and exit; needs no
    /// configuration or database.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        println!(
            "{}",
            serde_json::to_string_pretty(&ils_server::http::openapi::document_json())?
        );
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref()).context("loading settings")?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Openapi => Ok(()),
        Command::Migrate => {
            let url = settings.database.migrate_url.as_ref().context(
                "set database.migrate_url (ILS_DATABASE__MIGRATE_URL) to the owner's connection",
            )?;
            db::migrate(url.expose()).await.context("migrating")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Bootstrap {
            name,
            domain,
            email,
            first_name,
            last_name,
        } => {
            let password = std::env::var("ILS_BOOTSTRAP_PASSWORD").context(
                "set ILS_BOOTSTRAP_PASSWORD to the first platform administrator's password",
            )?;
            let state = AppState::build(settings).await?;
            let admin = NewUserInput {
                email,
                password,
                first_name,
                last_name,
                role: Role::PlatformAdmin,
            };
            match tenants::bootstrap_platform(&state, &name, &domain, admin).await? {
                Some(company) => println!(
                    "platform company {} created ({})",
                    company.domain, company.id
                ),
                None => println!("the platform is already bootstrapped; nothing changed"),
            }
            Ok(())
        }
        Command::SeedDemo { domain } => {
            let admin_password =
                std::env::var("ILS_DEMO_ADMIN_PASSWORD").context("set ILS_DEMO_ADMIN_PASSWORD")?;
            let ecp_password =
                std::env::var("ILS_DEMO_ECP_PASSWORD").context("set ILS_DEMO_ECP_PASSWORD")?;
            let state = AppState::build(settings).await?;
            seed_demo(&state, &domain, admin_password, ecp_password).await
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen;
    let state = AppState::build(settings).await.context("starting")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(%listen, "ILS Central listening");
    let header_timeout =
        std::time::Duration::from_millis(state.settings.http.header_read_timeout_ms);
    http::serve(
        listener,
        http::router(state),
        header_timeout,
        shutdown_signal(),
    )
    .await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn seed_demo(
    state: &AppState,
    domain: &str,
    admin_password: String,
    ecp_password: String,
) -> anyhow::Result<()> {
    let input = NewTenantInput {
        name: "Demo Optics".into(),
        domain: domain.into(),
        tier: SubscriptionTier::Pro,
        status: CompanyStatus::Trial,
        ai_config: AiConfig::default(),
        admin: Some(NewUserInput {
            email: format!("admin@{domain}"),
            password: admin_password,
            first_name: "Dana".into(),
            last_name: "Admin".into(),
            role: Role::CompanyAdmin,
        }),
    };
    let company = match tenants::create_as_operator(state, input).await {
        Ok(company) => company,
        Err(ils_server::Error::Conflict {
            code: "company.domain_taken",
            ..
        }) => {
            println!("demo tenant {domain} already exists; nothing changed");
            return Ok(());
        }
        Err(e) => bail!("could not create the demo tenant: {e}"),
    };
    tenants::add_user_as_operator(
        state,
        company.id,
        NewUserInput {
            email: format!("ecp@{domain}"),
            password: ecp_password,
            first_name: "Eli".into(),
            last_name: "Optometrist".into(),
            role: Role::Ecp,
        },
    )
    .await?;
    println!("demo tenant {domain} created ({})", company.id);
    Ok(())
}
