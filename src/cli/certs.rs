//! `cmek-gate certs`: writes a development CA, a serving certificate (and optionally a client
//! certificate for mutual TLS) into a folder, and prints the caBundle for the webhook
//! configuration.

use crate::certs::{generate, CertRequest, Pair};
use anyhow::Context;
use base64::Engine;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Folder to write ca.crt, ca.key, tls.crt, tls.key (and client.crt, client.key) into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// DNS names or IP addresses of the serving certificate (repeatable), e.g.
    /// cmek-gate.cmek-gate.svc.
    #[arg(long = "dns", value_name = "NAME", required = true)]
    pub names: Vec<String>,
    /// Also write a client certificate with this common name, for --client-ca.
    #[arg(long, value_name = "NAME")]
    pub client: Option<String>,
    /// Days the certificates are valid.
    #[arg(long, default_value_t = 365)]
    pub days: i64,
    /// Replace a CA already in --out. Without it an existing ca.crt or ca.key is an error:
    /// a new CA breaks every caBundle installed from the old one.
    #[arg(long)]
    pub force: bool,
}

fn write(dir: &Path, name: &str, text: &str, private: bool) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    Ok(())
}

fn write_pair(dir: &Path, stem: &str, pair: &Pair) -> anyhow::Result<()> {
    write(dir, &format!("{stem}.crt"), &pair.cert_pem, false)?;
    write(dir, &format!("{stem}.key"), &pair.key_pem, true)
}

pub fn run_certs(args: CertsArgs) -> anyhow::Result<i32> {
    if !args.force {
        if let Some(existing) = ["ca.crt", "ca.key"]
            .iter()
            .map(|name| args.out.join(name))
            .find(|path| path.exists())
        {
            anyhow::bail!(
                "{} exists: a new CA breaks every caBundle installed from it; \
                 pass --force to replace it, or choose another --out",
                existing.display()
            );
        }
    }
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs() as i64;
    let bundle = generate(&CertRequest {
        names: args.names.clone(),
        client: args.client.clone(),
        valid_days: args.days,
        now_unix,
    })?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    write_pair(&args.out, "ca", &bundle.ca)?;
    write_pair(&args.out, "tls", &bundle.server)?;
    if let Some(client) = &bundle.client {
        write_pair(&args.out, "client", client)?;
    }
    let ca_bundle = base64::engine::general_purpose::STANDARD.encode(&bundle.ca.cert_pem);
    eprintln!(
        "wrote {dir}/ca.crt, ca.key, tls.crt, tls.key{client} for {names}\n\
         serve with: cmek-gate serve --cert {dir}/tls.crt --key {dir}/tls.key\n\
         the webhook configuration's clientConfig.caBundle:",
        dir = args.out.display(),
        client = if bundle.client.is_some() {
            ", client.crt, client.key"
        } else {
            ""
        },
        names = args.names.join(", "),
    );
    std::io::Write::write_all(&mut std::io::stdout(), format!("{ca_bundle}\n").as_bytes())?;
    Ok(0)
}
