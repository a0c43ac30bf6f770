//! Embedding the server in another program: `cargo run -p etp-server --example embedded -- 127.0.0.1:9100 /tmp/etp-data`.

use etp_server::{Server, ServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut config = ServerConfig::default();
    if let Some(listen) = args.next() {
        config.listen = listen.parse()?;
    }
    if let Some(dir) = args.next() {
        config.data_dir = dir.into();
    }
    let server = Server::bind(config).await?;
    println!("listening on {}", server.local_addr());
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
