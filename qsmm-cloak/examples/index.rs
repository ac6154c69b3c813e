//! A client keeps a small metadata index (file-name hash → block number) on a host it does not
//! trust, and looks entries up and updates them without the host learning which entry or what
//! value.
//!
//! The two sides are two threads that share nothing but a channel of serialised messages: every
//! byte the host sees is printed as a line `client -> host` or `host -> client`.
//!
//! ```text
//! cargo run --release -p qsmm-cloak --example index -- --entries 16 [--lookups 3]
//! ```

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;
use std::time::Instant;

use qsmm_cloak::{
    Answer, ClientKey, EncryptedIndex, Entry, Query, ServerKey, Update, UpdateAnswer,
};

/// A message on the channel: what it is and its serialised bytes.
enum Message {
    ServerKey(Vec<u8>),
    Entry(Vec<u8>),
    Query(Vec<u8>),
    Update(Vec<u8>),
    Answer(Vec<u8>),
    UpdateAnswer(Vec<u8>),
    Done,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Failure> {
    let (entries, lookups) = parse_args()?;
    let (to_host, host_inbox) = channel();
    let (to_client, client_inbox) = channel();
    let host = thread::spawn(move || host(&host_inbox, &to_client));
    let correct = client(entries, lookups, &to_host, &client_inbox)?;
    host.join().map_err(|_| "the host thread panicked")??;
    println!("correct: {correct}");
    if correct {
        Ok(())
    } else {
        Err("an answer was wrong".into())
    }
}

/// The client: makes the keys, fills the index, looks up and updates, checks every answer
/// against a plain map; whether all were right.
fn client(
    entries: usize,
    lookups: usize,
    host: &Sender<Message>,
    inbox: &Receiver<Message>,
) -> Result<bool, Failure> {
    let start = Instant::now();
    let client_key = ClientKey::generate()?;
    let server_key = client_key.server_key();
    println!(
        "client: key generation {:.1} s (client key {} bytes)",
        start.elapsed().as_secs_f64(),
        client_key.to_bytes()?.len()
    );
    send(host, Message::ServerKey(server_key.to_bytes()?))?;
    drop(server_key);

    // Keys are keyed hashes of file names (the host sees them: they must say nothing by
    // themselves); values are block numbers.
    let mut secret = [0u8; 8];
    getrandom::fill(&mut secret).map_err(|_| "no randomness")?;
    let secret = u64::from_le_bytes(secret);
    let file_key = |i: usize| splitmix64(secret ^ splitmix64(i as u64));
    let mut model = HashMap::new();
    for i in 0..entries {
        let (key, value) = (file_key(i), splitmix64(secret.wrapping_add(i as u64)) >> 16);
        model.insert(key, value);
        send(
            host,
            Message::Entry(client_key.encrypt_entry(key, value)?.to_bytes()?),
        )?;
    }

    let mut correct = true;
    // Lookups of present entries (spread over the index) and of one absent key.
    let mut asked: Vec<u64> = (0..lookups)
        .map(|n| file_key(n * entries.max(1) / lookups.max(1)))
        .collect();
    asked.push(file_key(entries + 1));
    for (n, key) in asked.iter().enumerate() {
        let start = Instant::now();
        send(
            host,
            Message::Query(client_key.encrypt_query(*key)?.to_bytes()?),
        )?;
        let Message::Answer(bytes) = inbox.recv()? else {
            return Err("expected an answer".into());
        };
        let got = client_key.decrypt_answer(&Answer::from_bytes(&bytes)?)?;
        let ok = got == model.get(key).copied();
        correct &= ok;
        println!(
            "lookup {n} ({}): {:.2} s, correct: {ok}",
            if model.contains_key(key) {
                "present"
            } else {
                "absent"
            },
            start.elapsed().as_secs_f64()
        );
    }

    // An update of one entry, then a lookup of it.
    if entries > 0 {
        let key = file_key(entries / 2);
        let start = Instant::now();
        send(
            host,
            Message::Update(client_key.encrypt_update(key, 4242)?.to_bytes()?),
        )?;
        let Message::UpdateAnswer(bytes) = inbox.recv()? else {
            return Err("expected an update answer".into());
        };
        let found = client_key.decrypt_update_answer(&UpdateAnswer::from_bytes(&bytes)?)?;
        model.insert(key, 4242);
        correct &= found;
        println!(
            "update: {:.2} s, correct: {found}",
            start.elapsed().as_secs_f64()
        );
        let start = Instant::now();
        send(
            host,
            Message::Query(client_key.encrypt_query(key)?.to_bytes()?),
        )?;
        let Message::Answer(bytes) = inbox.recv()? else {
            return Err("expected an answer".into());
        };
        let ok = client_key.decrypt_answer(&Answer::from_bytes(&bytes)?)? == Some(4242);
        correct &= ok;
        println!(
            "lookup after update: {:.2} s, correct: {ok}",
            start.elapsed().as_secs_f64()
        );
    }
    send(host, Message::Done)?;
    Ok(correct)
}

/// The host: holds the server key and the index, answers what arrives. It never has the client
/// key, so it sees clear keys, ciphertexts and the timing of its own work, nothing else.
fn host(inbox: &Receiver<Message>, client: &Sender<Message>) -> Result<(), Failure> {
    let Message::ServerKey(bytes) = inbox.recv()? else {
        return Err("expected the server key first".into());
    };
    let start = Instant::now();
    let server_key = ServerKey::from_bytes(&bytes)?;
    println!(
        "host: server key {} bytes compressed, expanded in {:.1} s",
        bytes.len(),
        start.elapsed().as_secs_f64()
    );
    let mut index = EncryptedIndex::new(&server_key);
    let mut sizes = (0, 0, 0);
    loop {
        match inbox.recv()? {
            Message::Entry(bytes) => {
                sizes.0 = bytes.len();
                index.insert(&server_key, &Entry::from_bytes(&bytes)?)?;
            }
            Message::Query(bytes) => {
                sizes.1 = bytes.len();
                let answer = index.lookup(&server_key, &Query::from_bytes(&bytes)?)?;
                let answer = answer.to_bytes()?;
                sizes.2 = answer.len();
                send(client, Message::Answer(answer))?;
            }
            Message::Update(bytes) => {
                let answer = index.update(&server_key, &Update::from_bytes(&bytes)?)?;
                send(client, Message::UpdateAnswer(answer.to_bytes()?))?;
            }
            Message::Done => break,
            Message::ServerKey(_) | Message::Answer(_) | Message::UpdateAnswer(_) => {
                return Err("unexpected message".into());
            }
        }
    }
    let stored = index.to_bytes(&server_key)?;
    println!(
        "host: {} entries; entry {} bytes, query {} bytes, answer {} bytes; stored index {} bytes",
        index.len(),
        sizes.0,
        sizes.1,
        sizes.2,
        stored.len()
    );
    Ok(())
}

/// Sends a message, printing its size (what the host sees of it).
fn send(to: &Sender<Message>, message: Message) -> Result<(), Failure> {
    let (name, len) = match &message {
        Message::ServerKey(b) => ("client -> host: server key", b.len()),
        Message::Entry(b) => ("client -> host: entry", b.len()),
        Message::Query(b) => ("client -> host: query", b.len()),
        Message::Update(b) => ("client -> host: update", b.len()),
        Message::Answer(b) => ("host -> client: answer", b.len()),
        Message::UpdateAnswer(b) => ("host -> client: update answer", b.len()),
        Message::Done => ("client -> host: done", 0),
    };
    if !matches!(message, Message::Entry(_)) {
        println!("  {name} ({len} bytes)");
    }
    to.send(message)
        .map_err(|_| "the other side hung up".into())
}

/// `--entries N` (default 16) and `--lookups K` (default 3).
fn parse_args() -> Result<(usize, usize), Failure> {
    let (mut entries, mut lookups) = (16, 3);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or("a flag needs a value")?.parse()?;
        match arg.as_str() {
            "--entries" => entries = value,
            "--lookups" => lookups = value,
            _ => return Err(format!("unknown flag {arg}; use --entries N --lookups K").into()),
        }
    }
    if entries > qsmm_cloak::DEFAULT_MAX_ENTRIES {
        return Err(format!("at most {} entries", qsmm_cloak::DEFAULT_MAX_ENTRIES).into());
    }
    Ok((entries, lookups))
}

/// A 64-bit mixing function (the finaliser of `SplitMix64`).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
