//! The D-Bus wire format: marshalling a method call, reading a message,
//! and the values of its body (only the types systemd's properties use).

use super::*;

pub(super) const MSG_CALL: u8 = 1;
pub(super) const MSG_RETURN: u8 = 2;
pub(super) const MSG_ERROR: u8 = 3;

/// The largest message accepted (systemd's replies here are ~30 KiB).
pub(super) const MAX_MESSAGE: usize = 8 << 20;

/// Marshals a method call, little-endian, with at most one string argument.
pub fn method_call(
    serial: u32,
    destination: &str,
    path: &str,
    interface: &str,
    member: &str,
    arg: Option<&str>,
) -> Vec<u8> {
    let mut body = Wr::default();
    if let Some(a) = arg {
        body.string(a);
    }
    let mut w = Wr::default();
    w.0.extend([b'l', MSG_CALL, 0, 1]);
    w.u32(body.0.len() as u32);
    w.u32(serial);
    w.u32(0); // the header fields' length, set below
    let start = w.0.len();
    let field = |w: &mut Wr, code: u8, sig: &str, v: &str| {
        w.pad(8);
        w.0.push(code);
        w.signature(sig);
        if sig == "g" {
            w.signature(v);
        } else {
            w.string(v);
        }
    };
    field(&mut w, 1, "o", path);
    field(&mut w, 2, "s", interface);
    field(&mut w, 3, "s", member);
    field(&mut w, 6, "s", destination);
    if arg.is_some() {
        field(&mut w, 8, "g", "s");
    }
    let len = (w.0.len() - start) as u32;
    w.0[12..16].copy_from_slice(&len.to_le_bytes());
    w.pad(8);
    w.0.extend(body.0);
    w.0
}

#[derive(Default)]
pub(super) struct Wr(pub(super) Vec<u8>);

impl Wr {
    pub(super) fn pad(&mut self, a: usize) {
        while !self.0.len().is_multiple_of(a) {
            self.0.push(0);
        }
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.pad(4);
        self.0.extend(v.to_le_bytes());
    }
    pub(super) fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend(s.as_bytes());
        self.0.push(0);
    }
    pub(super) fn signature(&mut self, s: &str) {
        self.0.push(s.len() as u8);
        self.0.extend(s.as_bytes());
        self.0.push(0);
    }
}

/// An incoming message, its header parsed, its body kept raw.
#[derive(Debug)]
pub struct Message {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub error_name: Option<String>,
    pub signature: String,
    little_endian: bool,
    /// The whole message; the body starts at `body_start`.
    raw: Vec<u8>,
    body_start: usize,
}

impl Message {
    /// The body as one value (a struct of its arguments when there are
    /// several; the single argument otherwise).
    pub fn body(&self) -> Result<Value, BusError> {
        let mut c = Cur {
            b: &self.raw,
            pos: self.body_start,
            le: self.little_endian,
            depth: 0,
        };
        let sig = self.signature.as_bytes();
        let mut vals = Vec::new();
        let mut i = 0;
        while i < sig.len() {
            let end = type_end(sig, i)?;
            vals.push(c.value(&sig[i..end])?);
            i = end;
        }
        Ok(if vals.len() == 1 {
            vals.pop().expect("one")
        } else {
            Value::Struct(vals)
        })
    }

    pub(super) fn error(&self) -> BusError {
        let message = match self.body() {
            Ok(Value::Str(s)) => s,
            Ok(Value::Struct(v)) => match v.into_iter().next() {
                Some(Value::Str(s)) => s,
                _ => String::new(),
            },
            _ => String::new(),
        };
        BusError::Remote {
            name: self.error_name.as_deref().unwrap_or("unknown").to_string(),
            message,
        }
    }
}

/// Reads one message.
pub fn read_message(r: &mut impl Read) -> Result<Message, BusError> {
    let mut head = [0u8; 16];
    r.read_exact(&mut head).map_err(io_err)?;
    let le = match head[0] {
        b'l' => true,
        b'B' => false,
        other => {
            return Err(BusError::Protocol(format!(
                "bad endianness byte {other:#x}"
            )));
        }
    };
    let u32_at = |i: usize| {
        let b = [head[i], head[i + 1], head[i + 2], head[i + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let body_len = u32_at(4) as usize;
    let fields_len = u32_at(12) as usize;
    let body_start = (16 + fields_len).next_multiple_of(8);
    let total = body_start
        .checked_add(body_len)
        .filter(|t| *t <= MAX_MESSAGE)
        .ok_or_else(|| BusError::Protocol("message too large".into()))?;
    let mut raw = vec![0u8; total];
    raw[..16].copy_from_slice(&head);
    r.read_exact(&mut raw[16..]).map_err(io_err)?;
    let mut msg = Message {
        kind: head[1],
        reply_serial: None,
        error_name: None,
        signature: String::new(),
        little_endian: le,
        raw,
        body_start,
    };
    let fields = {
        let mut c = Cur {
            b: &msg.raw[..16 + fields_len],
            pos: 12,
            le,
            depth: 0,
        };
        c.value(b"a(yv)")?
    };
    let Value::Array(fields) = fields else {
        return Err(BusError::Protocol("bad header".into()));
    };
    for f in fields {
        if let Value::Struct(v) = f
            && let [Value::Byte(code), Value::Variant(val)] = v.as_slice()
        {
            match (code, &**val) {
                (4, Value::Str(s)) => msg.error_name = Some(s.clone()),
                (5, Value::U32(n)) => msg.reply_serial = Some(*n),
                (8, Value::Str(s)) => msg.signature = s.clone(),
                _ => {}
            }
        }
    }
    Ok(msg)
}

/// A demarshalled value. `s`, `o` and `g` are all `Str`; dict entries are
/// two-field structs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    /// A unix fd index (never sent by systemd here).
    Fd(u32),
    Array(Vec<Value>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

/// The index just past the complete type starting at `sig[i]`.
pub(super) fn type_end(sig: &[u8], i: usize) -> Result<usize, BusError> {
    let bad = || BusError::Protocol(format!("bad signature {:?}", String::from_utf8_lossy(sig)));
    match sig.get(i).ok_or_else(bad)? {
        b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'd' | b's' | b'o' | b'g'
        | b'h' | b'v' => Ok(i + 1),
        b'a' => type_end(sig, i + 1),
        open @ (b'(' | b'{') => {
            let close = if *open == b'(' { b')' } else { b'}' };
            let mut j = i + 1;
            while sig.get(j).ok_or_else(bad)? != &close {
                j = type_end(sig, j)?;
            }
            Ok(j + 1)
        }
        _ => Err(bad()),
    }
}

pub(super) fn alignment(t: u8) -> usize {
    match t {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

pub(super) struct Cur<'a> {
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
    pub(super) le: bool,
    pub(super) depth: u32,
}

impl Cur<'_> {
    pub(super) fn short() -> BusError {
        BusError::Protocol("truncated message".into())
    }

    pub(super) fn align(&mut self, a: usize) -> Result<(), BusError> {
        let p = self.pos.next_multiple_of(a);
        if p > self.b.len() {
            return Err(Self::short());
        }
        self.pos = p;
        Ok(())
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&[u8], BusError> {
        let end = self.pos.checked_add(n).ok_or_else(Self::short)?;
        let s = self.b.get(self.pos..end).ok_or_else(Self::short)?;
        self.pos = end;
        Ok(s)
    }

    pub(super) fn fixed<const N: usize>(&mut self) -> Result<[u8; N], BusError> {
        self.align(N)?;
        let mut a: [u8; N] = self.take(N)?.try_into().expect("N bytes");
        if !self.le {
            a.reverse();
        }
        Ok(a)
    }

    pub(super) fn u32(&mut self) -> Result<u32, BusError> {
        Ok(u32::from_le_bytes(self.fixed()?))
    }

    pub(super) fn string(&mut self, len: usize) -> Result<String, BusError> {
        let s = String::from_utf8_lossy(self.take(len)?).into_owned();
        self.take(1)?; // the terminating NUL
        Ok(s)
    }

    /// Parses one value of the complete type `sig`.
    pub(super) fn value(&mut self, sig: &[u8]) -> Result<Value, BusError> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(BusError::Protocol("values nested too deep".into()));
        }
        let v = self.value_inner(sig);
        self.depth -= 1;
        v
    }

    pub(super) fn value_inner(&mut self, sig: &[u8]) -> Result<Value, BusError> {
        Ok(match sig[0] {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => Value::Bool(self.u32()? != 0),
            b'n' => Value::I16(i16::from_le_bytes(self.fixed()?)),
            b'q' => Value::U16(u16::from_le_bytes(self.fixed()?)),
            b'i' => Value::I32(i32::from_le_bytes(self.fixed()?)),
            b'u' => Value::U32(self.u32()?),
            b'h' => Value::Fd(self.u32()?),
            b'x' => Value::I64(i64::from_le_bytes(self.fixed()?)),
            b't' => Value::U64(u64::from_le_bytes(self.fixed()?)),
            b'd' => Value::F64(f64::from_le_bytes(self.fixed()?)),
            b's' | b'o' => {
                let n = self.u32()? as usize;
                Value::Str(self.string(n)?)
            }
            b'g' => {
                let n = self.take(1)?[0] as usize;
                Value::Str(self.string(n)?)
            }
            b'v' => {
                let n = self.take(1)?[0] as usize;
                let inner = self.take(n)?.to_vec();
                self.take(1)?;
                if inner.is_empty() || type_end(&inner, 0)? != inner.len() {
                    return Err(BusError::Protocol("bad variant signature".into()));
                }
                Value::Variant(Box::new(self.value(&inner)?))
            }
            b'a' => {
                let n = self.u32()? as usize;
                let elem = &sig[1..];
                self.align(alignment(elem[0]))?;
                let end = self.pos.checked_add(n).ok_or_else(Self::short)?;
                if end > self.b.len() {
                    return Err(Self::short());
                }
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.value(elem)?);
                }
                if self.pos != end {
                    return Err(BusError::Protocol("array length mismatch".into()));
                }
                Value::Array(items)
            }
            b'(' | b'{' => {
                self.align(8)?;
                let inner = &sig[1..sig.len() - 1];
                let mut fields = Vec::new();
                let mut i = 0;
                while i < inner.len() {
                    let e = type_end(inner, i)?;
                    fields.push(self.value(&inner[i..e])?);
                    i = e;
                }
                Value::Struct(fields)
            }
            other => {
                return Err(BusError::Protocol(format!(
                    "unknown type {:?}",
                    other as char
                )));
            }
        })
    }
}
