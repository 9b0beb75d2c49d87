//! `stowage aws …`: what an operator (or a test) needs to stand up the AWS backend beside its
//! infrastructure code: the table and bucket with the layout the adapters expect (for
//! emulators and first trials; a deployment creates them with its infrastructure), and token
//! signing keys for the environment of the functions.

use clap::Subcommand;
use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
use std::io::Read;

#[derive(Subcommand)]
pub enum AwsCmd {
    /// Creates the DynamoDB table (STOWAGE_TABLE) and the S3 bucket (STOWAGE_BUCKET) with the
    /// layout the adapters expect, configured from the environment as `serve --backend aws`.
    Init,
    /// Prints a new Ed25519 token signing key (PKCS#8 PEM), for STOWAGE_TOKEN_SIGNING_KEYS.
    Keygen,
    /// Reads PEM signing keys on standard input; prints their public keys, comma-separated,
    /// for STOWAGE_TOKEN_PUBLIC_KEYS (the functions that only verify tokens).
    PublicKeys,
}

pub async fn run(cmd: AwsCmd) -> Result<(), String> {
    match cmd {
        AwsCmd::Init => {
            let config = stowage_fleet::StorageConfig::from_env()?;
            let (table, bucket) = (config.table.clone(), config.bucket.clone());
            let fleet = stowage_fleet::build_storage(&config).await;
            fleet
                .store
                .create_table()
                .await
                .map_err(|e| e.to_string())?;
            fleet
                .blobs
                .create_bucket()
                .await
                .map_err(|e| e.to_string())?;
            println!("created table {table} and bucket {bucket}");
            Ok(())
        }
        AwsCmd::Keygen => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| e.to_string())?;
            print!("{}", pem.as_str());
            Ok(())
        }
        AwsCmd::PublicKeys => {
            let mut pems = String::new();
            std::io::stdin()
                .read_to_string(&mut pems)
                .map_err(|e| e.to_string())?;
            println!("{}", stowage_fleet::public_keys_of(&pems)?.join(","));
            Ok(())
        }
    }
}
