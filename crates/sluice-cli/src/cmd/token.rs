//! `sluice token create NAME --role R [--service S]…`, `sluice token list`, `sluice token
//! revoke NAME [--reason R]`: operators' named API tokens. The secret is printed once, alone on
//! stdout (so `sluice token create … > file` keeps it and nothing else); the server keeps only
//! its hash.

use comfy_table::Table;
use sluice_api::{ApiTokenView, NewApiToken, Role};

use crate::args::{TokenCommand, TokenCreateArgs, TokenListArgs, TokenRevokeArgs};
use crate::connect::{block_on, client};
use crate::exit;
use crate::failure::Failure;
use crate::output::print_json;
use crate::render::utc::iso8601;

pub fn run(c: &TokenCommand) -> u8 {
    let (result, json) = match c {
        TokenCommand::Create(a) => (create(a), a.conn.json),
        TokenCommand::List(a) => (list(a), a.conn.json),
        TokenCommand::Revoke(a) => (revoke(a), a.conn.json),
    };
    match result {
        Ok(()) => exit::OK,
        Err(f) => f.report(json),
    }
}

fn create(a: &TokenCreateArgs) -> Result<(), Failure> {
    let role: Role = a.role.parse().map_err(|e| Failure::Usage(format!("--role: {e}")))?;
    let services = (!a.services.is_empty()).then(|| a.services.clone());
    let client = client(&a.conn)?;
    let made = block_on(client.create_token(&NewApiToken { name: a.name.clone(), role, services }))??;
    if a.conn.json {
        return print_json(&made);
    }
    println!("{}", made.secret);
    eprintln!(
        "token {} ({}{}) created; the secret above is shown only now: keep it (SLUICE_TOKEN or --token)",
        made.token.name,
        made.token.role,
        made.token.services.as_ref().map(|s| format!(" of {}", s.join(", "))).unwrap_or_default()
    );
    Ok(())
}

fn list(a: &TokenListArgs) -> Result<(), Failure> {
    let client = client(&a.conn)?;
    let tokens = block_on(client.tokens())??;
    if a.conn.json {
        return print_json(&tokens);
    }
    print!("{}", table(&tokens));
    Ok(())
}

fn revoke(a: &TokenRevokeArgs) -> Result<(), Failure> {
    let client = client(&a.conn)?;
    let reason = a.reason.as_deref().filter(|r| !r.trim().is_empty());
    let token = block_on(client.revoke_token(&a.name, reason))??;
    if a.conn.json {
        return print_json(&token);
    }
    println!("token {} revoked", token.name);
    Ok(())
}

fn table(tokens: &[ApiTokenView]) -> String {
    let mut t = Table::new();
    t.set_header(["name", "role", "services", "created by", "created", "revoked"]);
    for k in tokens {
        t.add_row([
            k.name.clone(),
            k.role.to_string(),
            k.services.as_ref().map_or("every service".to_string(), |s| s.join(", ")),
            k.created_by.clone(),
            iso8601(k.created_at),
            k.revoked_at.map_or("-".to_string(), iso8601),
        ]);
    }
    format!("{t}\n")
}
