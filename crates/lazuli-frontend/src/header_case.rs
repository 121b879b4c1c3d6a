//! The case of metadata names on the wire.
//!
//! The service keeps a metadata name as it was written: `x-ms-meta-CamelCase` set on a blob
//! comes back as `x-ms-meta-CamelCase`, and the SDKs' metadata dictionaries are
//! case-sensitive. hyper lowercases every header name it parses and writes, and keeps the
//! original case only in a private type. [`CaseIo`] sits between hyper and the connection:
//! reading, it notes how each `x-ms-meta-*` name of a request head was spelled (bodies are
//! never scanned); writing, it respells the `x-ms-meta-*` names of a response head as the
//! handler asks ([`MetadataNames`] in the response's extensions). Metadata names are ASCII
//! letters, digits and `_` (`lazuli_types::names::validate_metadata_name`), so a respelling
//! never changes a length.
//!
//! Request heads are found by their place in the stream: the connection starts with one, and
//! the next begins with a request line after the last request's declared body, once the
//! response to it has started (clients do not send a request before the previous response;
//! hyper reads the rest of a body the service left unread, or closes the connection). A
//! response head is rewritten only when its response's first write begins with it (after
//! an interim 1xx head, if any), so no other byte is ever changed. What a client that
//! pipelines requests may see: lowercase names, or a spelling of a name sent in a body.
//!
//! A copy from a source on another server reads the source's response through the same
//! wrapper ([`CaseIo::client`]), so the metadata it copies keeps the source's spelling.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{ready, Context, Poll};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const META_PREFIX: &[u8] = b"x-ms-meta-";
/// Longer names keep hyper's lowercase (a request's metadata is at most 8 KiB in all).
const NAME_BYTES_MAX: usize = 8 * 1024;
/// Spellings noted per request head at most (hyper takes at most this many headers) and
/// their bytes at most (hyper takes no larger head).
const NAMES_MAX: usize = crate::server::REQUEST_HEADERS_MAX;
const NAMES_BYTES_MAX: usize = crate::server::REQUEST_HEAD_BYTES_MAX;
/// A request line starts with a method of this many uppercase letters (GET … OPTIONS)
/// and a space; a line of a chunked body's end (hex digits, trailer fields) does not.
const METHOD_LETTERS_MIN: usize = 3;
const METHOD_LETTERS_MAX: usize = 7;
/// A response head to respell is gathered up to this size; a larger one goes out as written.
const RESPONSE_HEAD_GATHER_MAX: usize = 64 * 1024;

/// Spellings of metadata names, in the order of their headers: on a request (set by the
/// server) or a copy source's reply, every `x-ms-meta-*` name of its head as sent; on a
/// response (set by `http_util::put_metadata_headers` when a name has a capital), every name
/// it writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataNames(pub Vec<Box<str>>);

impl MetadataNames {
    /// Gives each lowercase name of `pairs` (as hyper parsed them, in header order) the
    /// spelling it was sent with. Same-named headers take the spellings of their name in
    /// order, matched from the last: anything noted earlier than this head cannot displace
    /// its own names.
    pub fn respell(&self, pairs: &mut [(String, String)]) {
        let mut used = vec![false; self.0.len()];
        for (name, _) in pairs.iter_mut().rev() {
            let found = (0..self.0.len())
                .rev()
                .find(|&i| !used[i] && self.0[i].len() == name.len() && self.0[i].eq_ignore_ascii_case(name));
            if let Some(i) = found {
                used[i] = true;
                name.clear();
                name.push_str(&self.0[i]);
            }
        }
    }
}

/// What a connection's [`CaseIo`] and its service share.
#[derive(Default)]
pub struct ConnectionCase {
    /// The service has a response ready: the next write begins its head.
    response_due: AtomicBool,
    /// The body length the request being served declared; `u64::MAX` when unknown (chunked).
    request_body_len: AtomicU64,
    /// A name has been noted since the service last took them (a request head with metadata).
    noted: AtomicBool,
    /// The response ready has names to respell.
    respelled: AtomicBool,
    spellings: Mutex<Spellings>,
}

#[derive(Default)]
struct Spellings {
    request: Vec<Box<str>>,
    request_bytes: usize,
    request_has_capital: bool,
    response: Vec<Box<str>>,
}

/// What [`ConnectionCase::start_response`] hands to the connection.
struct ResponseStart {
    request_body_len: Option<u64>,
    names: Vec<Box<str>>,
}

impl ConnectionCase {
    /// A request is about to be served: the spellings of its head, if any name in it has a
    /// capital (otherwise hyper's lowercase is already right). `body_len` is the length its
    /// head declared (`None`: chunked).
    pub fn serving(&self, body_len: Option<u64>) -> Option<MetadataNames> {
        self.request_body_len
            .store(body_len.unwrap_or(u64::MAX), Ordering::Relaxed);
        if !self.noted.load(Ordering::Relaxed) {
            return None;
        }
        self.noted.store(false, Ordering::Relaxed);
        let mut spellings = self.spellings.lock();
        let names = std::mem::take(&mut spellings.request);
        spellings.request_bytes = 0;
        std::mem::take(&mut spellings.request_has_capital).then_some(MetadataNames(names))
    }

    /// On a client's connection ([`CaseIo::client`]): the spellings of the response head read,
    /// if any name in it has a capital.
    pub fn response_names(&self) -> Option<MetadataNames> {
        self.serving(Some(0))
    }

    /// The service's response is ready; `names` are the spellings its head should have.
    pub fn response_ready(&self, names: Option<MetadataNames>) {
        if let Some(names) = names {
            self.spellings.lock().response = names.0;
            self.respelled.store(true, Ordering::Relaxed);
        }
        self.response_due.store(true, Ordering::Release);
    }

    fn note(&self, name: &[u8]) {
        self.noted.store(true, Ordering::Relaxed);
        let mut spellings = self.spellings.lock();
        if spellings.request.len() < NAMES_MAX && spellings.request_bytes + name.len() <= NAMES_BYTES_MAX {
            // Only ASCII letters, digits and '_' are noted.
            let name = String::from_utf8_lossy(name);
            spellings.request_bytes += name.len();
            spellings.request_has_capital |= name.bytes().any(|b| b.is_ascii_uppercase());
            spellings.request.push(name.into());
        }
    }

    /// A response starts, if one is due: what the last request head left is stale, and the
    /// response's spellings are handed over.
    fn start_response(&self) -> Option<ResponseStart> {
        if !self.response_due.load(Ordering::Acquire) {
            return None;
        }
        self.response_due.store(false, Ordering::Relaxed);
        let body_len = self.request_body_len.load(Ordering::Relaxed);
        let mut start = ResponseStart {
            request_body_len: (body_len != u64::MAX).then_some(body_len),
            names: Vec::new(),
        };
        if self.noted.swap(false, Ordering::Relaxed) || self.respelled.load(Ordering::Relaxed) {
            self.respelled.store(false, Ordering::Relaxed);
            let mut spellings = self.spellings.lock();
            spellings.request.clear();
            spellings.request_bytes = 0;
            spellings.request_has_capital = false;
            start.names = std::mem::take(&mut spellings.response);
        }
        Some(start)
    }
}

/// Where the reader is in a line of a request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    Start,
    /// The first line of a head: this many uppercase letters of its method so far.
    Method(usize),
    /// A line that began with '\r': blank if '\n' follows.
    CarriageReturn,
    /// This many bytes of the line matched `x-ms-meta-`, ignoring case.
    Prefix(usize),
    Name,
    /// The rest of the line does not matter.
    Skip,
}

/// Where the reader is in the bytes of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Head,
    /// After a head: the request's body, this many bytes of it read.
    Body(u64),
    /// The rest of a body the service did not read before it answered (hyper reads it
    /// afterwards): this many bytes of it left.
    BodyLeft(u64),
}

/// Finds the `x-ms-meta-*` names of request heads in the bytes read from a connection.
struct HeadScanner {
    part: Part,
    line: Line,
    /// The connection is a client's: its heads are responses, begun by a status line.
    responses: bool,
    /// The head's request line has been seen. Until then, lines are not the head's: blank
    /// lines before it (which HTTP/1.1 allows), or the end of a chunked body that hyper
    /// read after the response began.
    seen_request_line: bool,
    name: Vec<u8>,
}

impl HeadScanner {
    fn new() -> HeadScanner {
        HeadScanner {
            part: Part::Head,
            line: Line::Start,
            responses: false,
            seen_request_line: false,
            name: Vec::new(),
        }
    }

    /// The response to the last request has begun: its body, `body_len` bytes long when
    /// known, is followed by the next request head.
    fn next_request(&mut self, body_len: Option<u64>) {
        self.part = match (self.part, body_len) {
            (Part::Body(read), Some(len)) if len > read => Part::BodyLeft(len - read),
            _ => Part::Head,
        };
        self.line = Line::Start;
        self.seen_request_line = false;
        self.name.clear();
    }

    /// Reads `data`, the next bytes of the connection, passing every metadata name of a
    /// request head to `note`.
    fn scan(&mut self, mut data: &[u8], mut note: impl FnMut(&[u8])) {
        while !data.is_empty() {
            match self.part {
                Part::Head => {
                    let used = self.scan_head(data, &mut note);
                    data = &data[used..];
                }
                Part::Body(read) => {
                    self.part = Part::Body(read.saturating_add(data.len() as u64));
                    return;
                }
                Part::BodyLeft(left) => {
                    let skipped = left.min(data.len() as u64);
                    self.part = if skipped == left {
                        Part::Head
                    } else {
                        Part::BodyLeft(left - skipped)
                    };
                    data = &data[skipped as usize..];
                }
            }
        }
    }

    /// Reads head bytes up to the end of the head or of `data`; returns how many.
    fn scan_head(&mut self, data: &[u8], note: &mut impl FnMut(&[u8])) -> usize {
        let mut at = 0;
        while self.part == Part::Head && at < data.len() {
            let byte = data[at];
            match self.line {
                Line::Skip => match memchr::memchr(b'\n', &data[at..]) {
                    Some(offset) => {
                        at += offset + 1;
                        self.line = Line::Start;
                    }
                    None => at = data.len(),
                },
                Line::Start => match byte {
                    b'\r' => {
                        at += 1;
                        self.line = Line::CarriageReturn;
                    }
                    b'\n' => {
                        at += 1;
                        self.blank_line();
                    }
                    // A response stream begins with its status line.
                    _ if !self.seen_request_line && self.responses => {
                        self.seen_request_line = true;
                        self.line = Line::Skip;
                    }
                    _ if !self.seen_request_line => self.line = Line::Method(0),
                    b'x' | b'X' => self.line = Line::Prefix(0),
                    _ => self.line = Line::Skip,
                },
                Line::Method(letters) => {
                    if byte.is_ascii_uppercase() && letters < METHOD_LETTERS_MAX {
                        at += 1;
                        self.line = Line::Method(letters + 1);
                    } else {
                        if byte == b' ' && letters >= METHOD_LETTERS_MIN {
                            self.seen_request_line = true;
                        }
                        self.line = Line::Skip;
                    }
                }
                Line::CarriageReturn => {
                    if byte == b'\n' {
                        at += 1;
                        self.blank_line();
                    } else {
                        self.line = Line::Skip;
                    }
                }
                Line::Prefix(matched) => {
                    if byte.to_ascii_lowercase() == META_PREFIX[matched] {
                        at += 1;
                        self.line = if matched + 1 == META_PREFIX.len() {
                            self.name.clear();
                            Line::Name
                        } else {
                            Line::Prefix(matched + 1)
                        };
                    } else {
                        self.line = Line::Skip;
                    }
                }
                Line::Name => {
                    if byte == b':' {
                        at += 1;
                        if !self.name.is_empty() {
                            note(&self.name);
                        }
                        self.line = Line::Skip;
                    } else if (byte.is_ascii_alphanumeric() || byte == b'_') && self.name.len() < NAME_BYTES_MAX {
                        at += 1;
                        self.name.push(byte);
                    } else {
                        // Not a metadata name the service accepts: it keeps hyper's spelling.
                        self.line = Line::Skip;
                    }
                }
            }
        }
        at
    }

    fn blank_line(&mut self) {
        if self.seen_request_line {
            self.part = Part::Body(0);
        }
        self.line = Line::Start;
    }
}

/// Where the writer is with respelling a response head.
#[derive(Default)]
enum Respell {
    #[default]
    Idle,
    /// A response whose head needs these spellings is due; its head has not begun. The
    /// count is what is left to write of an interim (1xx) head before it.
    Armed(Vec<Box<str>>, usize),
    /// Its head is being gathered.
    Gathering(Vec<Box<str>>),
}

/// A response head being respelled: gathered whole, respelled, then written.
#[derive(Default)]
struct ResponseHead {
    respell: Respell,
    bytes: Vec<u8>,
    /// How much of `bytes` the connection has taken.
    sent: usize,
}

/// Where the head that `buf` begins with ends, if `buf` holds all of it.
fn head_end(buf: &[u8], search_from: usize) -> Option<usize> {
    memchr::memmem::find(&buf[search_from..], b"\r\n\r\n").map(|offset| search_from + offset + 4)
}

impl ResponseHead {
    /// Takes bytes of `buf` up to the end of the head being gathered (or of the gathering
    /// limit); returns how many. Once the head is whole it is respelled and ready to send.
    fn gather(&mut self, buf: &[u8]) -> usize {
        let before = self.bytes.len();
        let room = RESPONSE_HEAD_GATHER_MAX.saturating_sub(before).max(1);
        self.bytes.extend_from_slice(&buf[..buf.len().min(room)]);
        match head_end(&self.bytes, before.saturating_sub(3)) {
            Some(end) => {
                self.bytes.truncate(end);
                if let Respell::Gathering(names) = std::mem::take(&mut self.respell) {
                    respell_head(&mut self.bytes, &names);
                }
                end - before
            }
            None => {
                if self.bytes.len() >= RESPONSE_HEAD_GATHER_MAX {
                    // Not a head this layer understands: it goes out as hyper wrote it.
                    self.respell = Respell::Idle;
                }
                self.bytes.len() - before
            }
        }
    }

    fn gathering(&self) -> bool {
        matches!(self.respell, Respell::Gathering(_))
    }

    fn unsent(&self) -> &[u8] {
        &self.bytes[self.sent..]
    }
}

/// Rewrites, in a response head as hyper wrote it, each `x-ms-meta-` name that one of
/// `names` spells with capitals; each spelling is used once, in order.
fn respell_head(head: &mut [u8], names: &[Box<str>]) {
    let mut used = vec![false; names.len()];
    let mut line_start = 0;
    while line_start < head.len() {
        let line_end = head[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head.len(), |offset| line_start + offset + 1);
        let line = &mut head[line_start..line_end];
        if line.starts_with(META_PREFIX) {
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = &mut line[META_PREFIX.len()..colon];
                let found = (0..names.len()).find(|&i| {
                    !used[i] && names[i].len() == name.len() && names[i].as_bytes().eq_ignore_ascii_case(name)
                });
                if let Some(i) = found {
                    used[i] = true;
                    name.copy_from_slice(names[i].as_bytes());
                }
            }
        }
        line_start = line_end;
    }
}

/// A connection as hyper sees it, with metadata names spelled as on the wire (see the
/// module's description).
pub struct CaseIo<T> {
    inner: T,
    case: std::sync::Arc<ConnectionCase>,
    scanner: HeadScanner,
    response: ResponseHead,
}

impl<T> CaseIo<T> {
    pub fn new(inner: T, case: std::sync::Arc<ConnectionCase>) -> CaseIo<T> {
        CaseIo {
            inner,
            case,
            scanner: HeadScanner::new(),
            response: ResponseHead::default(),
        }
    }

    /// A client's connection for one request: the spellings of its response's `x-ms-meta-*`
    /// names are noted ([`ConnectionCase::response_names`]); what it writes is left alone.
    pub fn client(inner: T, case: std::sync::Arc<ConnectionCase>) -> CaseIo<T> {
        let mut io = CaseIo::new(inner, case);
        io.scanner.responses = true;
        io
    }
}

impl<T: AsyncWrite + Unpin> CaseIo<T> {
    /// Before a write: once everything of the last response head is out, a response the
    /// service has made ready begins: the next request head may come, and this one's
    /// head may need respelling.
    fn poll_before_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send_head(cx))?;
        if !self.response.gathering() {
            if let Some(start) = self.case.start_response() {
                self.scanner.next_request(start.request_body_len);
                self.response.respell = if start.names.is_empty() {
                    Respell::Idle
                } else {
                    Respell::Armed(start.names, 0)
                };
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes what is left of a respelled head.
    fn poll_send_head(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.response.gathering() {
            return Poll::Ready(Ok(()));
        }
        while !self.response.unsent().is_empty() {
            let written = ready!(Pin::new(&mut self.inner).poll_write(cx, self.response.unsent()))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.response.sent += written;
        }
        if !self.response.bytes.is_empty() {
            self.response.bytes = Vec::new();
            self.response.sent = 0;
        }
        Poll::Ready(Ok(()))
    }

    /// A write of an armed response: if it begins the final head, gathering starts; an
    /// interim (1xx) head before it goes out as it is; anything else (a pipelined
    /// response's leftovers) disarms it, so that no byte but a final head's is rewritten.
    /// `None`: the write is not this function's to make.
    fn poll_write_armed(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<Poll<io::Result<usize>>> {
        let Respell::Armed(_, interim_left) = &mut self.response.respell else {
            return None;
        };
        if buf.is_empty() {
            return None;
        }
        if *interim_left == 0 {
            let status = buf.strip_prefix(b"HTTP/1.").and_then(|rest| rest.get(2));
            match status {
                Some(b'1') => match head_end(buf, 0) {
                    Some(end) => *interim_left = end,
                    None => self.response.respell = Respell::Idle,
                },
                Some(b'2'..=b'5') => {
                    if let Respell::Armed(names, _) = std::mem::take(&mut self.response.respell) {
                        self.response.respell = Respell::Gathering(names);
                    }
                }
                _ => self.response.respell = Respell::Idle,
            }
        }
        let Respell::Armed(_, interim_left) = &mut self.response.respell else {
            return None;
        };
        let len = (*interim_left).min(buf.len());
        let written = Pin::new(&mut self.inner).poll_write(cx, &buf[..len]);
        if let Poll::Ready(Ok(n)) = written {
            *interim_left -= n;
        }
        Some(written)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CaseIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let case = &this.case;
        this.scanner.scan(&buf.filled()[before..], |name| case.note(name));
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CaseIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_before_write(cx))?;
        if let Some(written) = this.poll_write_armed(cx, buf) {
            return written;
        }
        if this.response.gathering() && !buf.is_empty() {
            let taken = this.response.gather(buf);
            // Once the head is whole, start it on its way. Its bytes are this layer's now,
            // so they count as written whether or not the connection takes them yet: every
            // later write, flush and shutdown sends them first.
            if let Poll::Ready(Err(error)) = this.poll_send_head(cx) {
                return Poll::Ready(Err(error));
            }
            return Poll::Ready(Ok(taken));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_before_write(cx))?;
        if !matches!(this.response.respell, Respell::Idle) {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            return Pin::new(this).poll_write(cx, first);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_send_head(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_send_head(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const HEAD: &[u8] = b"PUT /c/b?x-ms-meta-Query=1 HTTP/1.1\r\nHost: h\r\nX-MS-META-Upper: 1\r\n\
x-ms-meta-lower: 2\r\nx-ms-metadata: 3\r\nx-ms-meta-CamelCase:4\r\nx-ms-meta-Bad-Name: 5\r\n\
x-ms-version: 2021-08-06\r\nContent-Length: 26\r\n\r\n";
    const BODY: &[u8] = b"\r\nx-ms-meta-InBody: 1\r\n\r\n";

    fn names(list: &[&str]) -> Vec<Box<str>> {
        list.iter().map(|&s| s.into()).collect()
    }

    fn scan_in_pieces(scanner: &mut HeadScanner, data: &[u8], piece: usize) -> Vec<String> {
        let mut noted = Vec::new();
        for chunk in data.chunks(piece) {
            scanner.scan(chunk, |name| noted.push(String::from_utf8(name.to_vec()).unwrap()));
        }
        noted
    }

    #[test]
    fn a_head_read_in_any_pieces_gives_its_metadata_names_as_sent_and_its_body_none() {
        let mut stream = HEAD.to_vec();
        stream.extend_from_slice(BODY);
        for piece in 1..=stream.len() {
            let mut scanner = HeadScanner::new();
            let noted = scan_in_pieces(&mut scanner, &stream, piece);
            assert_eq!(noted, ["Upper", "lower", "CamelCase"], "pieces of {piece}");
            assert_eq!(scanner.part, Part::Body(BODY.len() as u64));
        }
    }

    #[test]
    fn the_next_head_starts_after_the_body_the_request_declared() {
        let next = b"HEAD /c/b HTTP/1.1\r\nx-ms-meta-Next: 1\r\n\r\n";
        for read_before_response in 0..=BODY.len() {
            for piece in [1, 3, 7, 64] {
                let mut scanner = HeadScanner::new();
                let mut noted = scan_in_pieces(&mut scanner, &[HEAD, &BODY[..read_before_response]].concat(), piece);
                scanner.next_request(Some(BODY.len() as u64));
                let rest = [&BODY[read_before_response..], &next[..]].concat();
                noted.extend(scan_in_pieces(&mut scanner, &rest, piece));
                assert_eq!(
                    noted,
                    ["Upper", "lower", "CamelCase", "Next"],
                    "{read_before_response} {piece}"
                );
            }
        }
        // A body of unknown length (chunked) read whole before the response: the same.
        let mut scanner = HeadScanner::new();
        scan_in_pieces(&mut scanner, &[HEAD, BODY].concat(), 5);
        scanner.next_request(None);
        assert_eq!(scan_in_pieces(&mut scanner, next, 5), ["Next"]);
    }

    #[test]
    fn blank_lines_before_the_request_line_and_bare_line_feeds() {
        let mut scanner = HeadScanner::new();
        let noted = scan_in_pieces(
            &mut scanner,
            b"\r\n\nGET / HTTP/1.1\nx-ms-meta-A_b1: 1\n\nx-ms-meta-Late: 2\r\n",
            2,
        );
        assert_eq!(noted, ["A_b1"]);
    }

    #[test]
    fn respelling_pairs_matches_same_named_headers_from_the_last() {
        let mut pairs: Vec<(String, String)> = [
            ("upper", "1"),
            ("lower", "2"),
            ("dup", "3"),
            ("dup", "4"),
            ("unnoted", "5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // "DUP" noted before this head (a stale name) must not displace the head's own two.
        MetadataNames(names(&["DUP", "Upper", "lower", "Dup", "dUp"])).respell(&mut pairs);
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["Upper", "lower", "Dup", "dUp", "unnoted"]);
    }

    #[test]
    fn respelling_a_head_changes_only_metadata_names_each_spelling_once() {
        let mut head = b"HTTP/1.1 200 OK\r\nx-ms-meta-camelcase: x-ms-meta-camelcase\r\nx-ms-meta-a: 1\r\n\
x-ms-meta-a: 2\r\nx-ms-meta-lower: 3\r\ncontent-length: 0\r\n\r\n"
            .to_vec();
        respell_head(&mut head, &names(&["CamelCase", "A"]));
        assert_eq!(
            head,
            b"HTTP/1.1 200 OK\r\nx-ms-meta-CamelCase: x-ms-meta-camelcase\r\nx-ms-meta-A: 1\r\n\
x-ms-meta-a: 2\r\nx-ms-meta-lower: 3\r\ncontent-length: 0\r\n\r\n"
        );
    }

    /// A connection that takes at most `per_write` bytes a call and is not ready every
    /// other call.
    struct Choppy {
        taken: Vec<u8>,
        per_write: usize,
        calls: usize,
    }

    impl AsyncWrite for Choppy {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = buf.len().min(self.per_write);
            self.taken.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncRead for Choppy {
        fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Writes `data` through `io` as hyper does: the first write offers `first` bytes (a
    /// head, or more), each later one at most `piece`, each retried until taken; then flushes.
    fn write_all(io: &mut CaseIo<Choppy>, data: &[u8], first: usize, piece: usize) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut at = 0;
        while at < data.len() {
            let end = (at + if at == 0 { first } else { piece }).min(data.len());
            let slices = [io::IoSlice::new(&data[at..end]), io::IoSlice::new(&data[end..])];
            if let Poll::Ready(written) = Pin::new(&mut *io).poll_write_vectored(&mut cx, &slices) {
                let written = written.expect("write");
                assert!(written > 0);
                at += written;
            }
        }
        while Pin::new(&mut *io).poll_flush(&mut cx).is_pending() {}
    }

    fn choppy(case: &Arc<ConnectionCase>, per_write: usize) -> CaseIo<Choppy> {
        let chopped = Choppy {
            taken: Vec::new(),
            per_write,
            calls: 0,
        };
        CaseIo::new(chopped, case.clone())
    }

    const RESPONSE_HEAD: &[u8] =
        b"HTTP/1.1 200 OK\r\nx-ms-meta-camelcase: 1\r\nx-ms-meta-lower: 2\r\ncontent-length: 5\r\n\r\n";
    const RESPELLED_HEAD: &[u8] =
        b"HTTP/1.1 200 OK\r\nx-ms-meta-CamelCase: 1\r\nx-ms-meta-lower: 2\r\ncontent-length: 5\r\n\r\n";
    /// A body that holds what a head would.
    const RESPONSE_BODY: &[u8] = b"\r\nx-ms-meta-camelcase: 9\r\n\r\nx";

    #[test]
    fn a_response_head_is_respelled_however_it_is_written_and_the_next_is_left_alone() {
        let head = RESPONSE_HEAD;
        let response = [head, RESPONSE_BODY].concat();
        for first in head.len()..=response.len() {
            for piece in 1..=RESPONSE_BODY.len() {
                for per_write in [1, 2, 5, 4096] {
                    let case = Arc::new(ConnectionCase::default());
                    let mut io = choppy(&case, per_write);
                    case.response_ready(Some(MetadataNames(names(&["CamelCase", "lower"]))));
                    write_all(&mut io, &response, first, piece);
                    // The next response asked for no respelling: written as it comes.
                    case.response_ready(None);
                    write_all(&mut io, &response, first, piece);
                    let expected = [RESPELLED_HEAD, RESPONSE_BODY, head, RESPONSE_BODY].concat();
                    assert_eq!(
                        io.inner.taken, expected,
                        "first {first}, pieces of {piece}, writes of {per_write}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_interim_response_goes_out_as_it_is_and_the_final_head_is_respelled() {
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
        let response = [&interim[..], RESPONSE_HEAD, RESPONSE_BODY].concat();
        for per_write in [1, 7, 4096] {
            let case = Arc::new(ConnectionCase::default());
            let mut io = choppy(&case, per_write);
            case.response_ready(Some(MetadataNames(names(&["CamelCase", "lower"]))));
            write_all(&mut io, &response, response.len(), 4096);
            assert_eq!(io.inner.taken, [&interim[..], RESPELLED_HEAD, RESPONSE_BODY].concat());
        }
    }

    #[test]
    fn a_response_that_does_not_begin_with_its_head_is_never_rewritten() {
        // Bytes of an earlier response first (a pipelining client): nothing is respelled.
        let tail = b"ta\r\nx-ms-meta-camelcase: 9\r\n\r\n";
        let response = [&tail[..], RESPONSE_HEAD, RESPONSE_BODY].concat();
        let case = Arc::new(ConnectionCase::default());
        let mut io = choppy(&case, 3);
        case.response_ready(Some(MetadataNames(names(&["CamelCase", "lower"]))));
        write_all(&mut io, &response, 4, 4096);
        assert_eq!(io.inner.taken, response);
    }

    #[test]
    fn a_respelled_head_still_unsent_goes_out_before_the_next_response() {
        let case = Arc::new(ConnectionCase::default());
        let mut io = choppy(&case, 2);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        case.response_ready(Some(MetadataNames(names(&["CamelCase", "lower"]))));
        // A bodiless head, taken whole into this layer, the connection not yet done with it.
        let taken = loop {
            if let Poll::Ready(taken) = Pin::new(&mut io).poll_write(&mut cx, RESPONSE_HEAD) {
                break taken.expect("write");
            }
        };
        assert_eq!(taken, RESPONSE_HEAD.len());
        assert!(io.inner.taken.len() < RESPONSE_HEAD.len());
        // The next response, with spellings of its own, comes before a flush.
        case.response_ready(Some(MetadataNames(names(&["camelCase"]))));
        write_all(&mut io, RESPONSE_HEAD, RESPONSE_HEAD.len(), 4096);
        let second = b"HTTP/1.1 200 OK\r\nx-ms-meta-camelCase: 1\r\nx-ms-meta-lower: 2\r\ncontent-length: 5\r\n\r\n";
        assert_eq!(io.inner.taken, [RESPELLED_HEAD, &second[..]].concat());
    }

    #[test]
    fn names_that_differ_only_in_case_keep_their_own_spellings() {
        let mut head = b"HTTP/1.1 200 OK\r\nx-ms-meta-foo: 1\r\nx-ms-meta-foo: 2\r\n\r\n".to_vec();
        respell_head(&mut head, &names(&["foo", "Foo"]));
        assert_eq!(head, b"HTTP/1.1 200 OK\r\nx-ms-meta-foo: 1\r\nx-ms-meta-Foo: 2\r\n\r\n");
    }

    #[test]
    fn the_end_of_a_chunked_body_read_after_the_response_is_not_a_head() {
        let mut scanner = HeadScanner::new();
        let mut noted = scan_in_pieces(
            &mut scanner,
            b"PUT /c/b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n",
            4,
        );
        scanner.next_request(None);
        let rest = b"hello\r\n0\r\nx-ms-meta-Trailer: 1\r\n\r\nGET /c/b HTTP/1.1\r\nx-ms-meta-Next: 1\r\n\r\n";
        for piece in [1, 2, 5, 100] {
            let mut scanner = HeadScanner::new();
            scanner.next_request(None);
            assert_eq!(scan_in_pieces(&mut scanner, rest, piece), ["Next"], "pieces of {piece}");
        }
        noted.extend(scan_in_pieces(&mut scanner, rest, 3));
        assert_eq!(noted, ["Next"]);
    }

    #[test]
    fn noted_names_are_bounded_in_count_and_bytes() {
        let case = ConnectionCase::default();
        for _ in 0..(NAMES_BYTES_MAX / NAME_BYTES_MAX + 4) {
            case.note(&[b'A'; NAME_BYTES_MAX]);
        }
        for _ in 0..(NAMES_MAX + 10) {
            case.note(b"B");
        }
        let noted = case.serving(Some(0)).expect("names");
        assert!(noted.0.iter().map(|n| n.len()).sum::<usize>() <= NAMES_BYTES_MAX);
        assert!(noted.0.len() <= NAMES_MAX);
    }

    #[test]
    fn the_service_gets_the_spellings_of_the_request_it_serves() {
        let case = ConnectionCase::default();
        let mut scanner = HeadScanner::new();
        scanner.scan(HEAD, |name| case.note(name));
        assert_eq!(
            case.serving(Some(26)),
            Some(MetadataNames(names(&["Upper", "lower", "CamelCase"])))
        );
        assert_eq!(case.serving(Some(26)), None, "taken once");
        // A head whose names are all lowercase needs nothing from this layer.
        scanner.next_request(Some(0));
        scanner.scan(b"GET / HTTP/1.1\r\nx-ms-meta-a: 1\r\n\r\n", |name| case.note(name));
        assert_eq!(case.serving(Some(26)), None);
    }

    #[test]
    fn a_client_notes_the_names_of_the_response_it_reads() {
        let response = b"HTTP/1.1 200 OK\r\nx-ms-meta-From: 1\r\nX-MS-META-lower: 2\r\n\
content-length: 22\r\n\r\nx-ms-meta-InBody: 3\r\n\r\n";
        for piece in [1, 3, 16, response.len()] {
            let case = ConnectionCase::default();
            let mut scanner = HeadScanner::new();
            scanner.responses = true;
            for chunk in response.chunks(piece) {
                scanner.scan(chunk, |name| case.note(name));
            }
            assert_eq!(case.response_names(), Some(MetadataNames(names(&["From", "lower"]))));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_in_any_pieces_note_only_metadata_names(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            piece in 1usize..64,
            restart_at in 0usize..2048,
            body_len in proptest::option::of(0u64..512),
        ) {
            let mut scanner = HeadScanner::new();
            let (before, after) = data.split_at(restart_at.min(data.len()));
            let mut noted = scan_in_pieces(&mut scanner, before, piece);
            scanner.next_request(body_len);
            noted.extend(scan_in_pieces(&mut scanner, after, piece));
            for name in noted {
                proptest::prop_assert!(!name.is_empty() && name.len() <= NAME_BYTES_MAX);
                proptest::prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            }
        }

        #[test]
        fn a_response_changes_only_in_the_case_of_its_head(
            head_lines in proptest::collection::vec("(x-ms-meta-[a-z_]{1,6}|content-[a-z]{1,6}): [ -~]{0,12}", 0..8),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            spellings in proptest::collection::vec("[a-zA-Z_]{1,6}", 0..8),
            interim in proptest::prelude::any::<bool>(),
            per_write in 1usize..64,
        ) {
            let mut head = String::from("HTTP/1.1 200 OK\r\n");
            for line in &head_lines {
                head.push_str(line);
                head.push_str("\r\n");
            }
            head.push_str("\r\n");
            let interim_head: &[u8] = if interim { b"HTTP/1.1 100 Continue\r\n\r\n" } else { b"" };
            let response = [interim_head, head.as_bytes(), &body].concat();
            let case = Arc::new(ConnectionCase::default());
            let mut io = choppy(&case, per_write);
            let spellings: Vec<&str> = spellings.iter().map(String::as_str).collect();
            case.response_ready(Some(MetadataNames(names(&spellings))));
            write_all(&mut io, &response, response.len(), 16);
            let out = &io.inner.taken;
            proptest::prop_assert_eq!(out.len(), response.len());
            proptest::prop_assert!(out.eq_ignore_ascii_case(&response));
            let head_end = interim_head.len() + head.len();
            proptest::prop_assert_eq!(&out[..interim_head.len()], interim_head);
            proptest::prop_assert_eq!(&out[head_end..], &response[head_end..]);
        }
    }
}
