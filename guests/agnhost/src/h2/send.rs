//! The sending half of [`Connection`]: responses, flow control of the
//! DATA the server sends, and HPACK encoding.

use loona_hpack::encoder::encode_integer_into;

use super::{Connection, Outgoing, Response};
use crate::frame::{self, END_STREAM, ErrorCode};

impl Connection {
    /// Sends `response` on stream `id`: its HEADERS now, DATA and trailers
    /// as far as flow control allows.
    pub(super) fn respond(&mut self, id: u32, response: Response) {
        let end_stream = response.body.is_empty() && response.trailers.is_empty();
        let mut fields = vec![(":status", response.status.to_string())];
        fields.extend(response.headers);
        self.write_headers(id, &fields, end_stream);
        if end_stream {
            self.close_stream(id);
        } else if let Some(stream) = self.streams.get_mut(&id) {
            stream.body = Vec::new();
            stream.response = Some(Outgoing {
                data: response.body,
                sent: 0,
                trailers: response.trailers,
            });
            self.flush_stream(id);
        }
    }

    /// Sends as much of stream `id`'s pending response as the windows
    /// allow; closes the stream once all of it is out.
    pub(super) fn flush_stream(&mut self, id: u32) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        let Some(out) = stream.response.as_mut() else {
            return;
        };
        while out.sent < out.data.len() {
            let window = self.send_window.min(stream.send_window);
            if window <= 0 {
                return;
            }
            let n = (out.data.len() - out.sent)
                .min(window as usize)
                .min(self.max_frame_size);
            let last = out.sent + n == out.data.len();
            let flags = if last && out.trailers.is_empty() {
                END_STREAM
            } else {
                0
            };
            let chunk = &out.data[out.sent..out.sent + n];
            frame::write(&mut self.output, frame::DATA, flags, id, chunk);
            out.sent += n;
            self.send_window -= n as i64;
            stream.send_window -= n as i64;
        }
        let trailers = std::mem::take(&mut out.trailers);
        if !trailers.is_empty() {
            self.write_headers(id, &trailers, true);
        }
        self.close_stream(id);
    }

    /// Flushes every stream with a pending response.
    pub(super) fn flush_all(&mut self) {
        let pending: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| s.response.is_some())
            .map(|(&id, _)| id)
            .collect();
        for id in pending {
            self.flush_stream(id);
        }
    }

    /// Forgets a stream the server has finished answering; if the client is
    /// still sending, tells it to stop (RFC 9113 §8.1).
    pub(super) fn close_stream(&mut self, id: u32) {
        if let Some(stream) = self.streams.remove(&id)
            && !stream.remote_closed
        {
            frame::write_rst_stream(&mut self.output, id, ErrorCode::NoError);
        }
    }

    /// Resets stream `id` with `code` (a stream error).
    pub(super) fn reset(&mut self, id: u32, code: ErrorCode) {
        frame::write_rst_stream(&mut self.output, id, code);
        self.streams.remove(&id);
    }

    /// HPACK-encodes `fields` and queues them as HEADERS (+ CONTINUATION).
    pub(super) fn write_headers(&mut self, id: u32, fields: &[(&str, String)], end_stream: bool) {
        let mut block = Vec::new();
        if let Some((smallest, last)) = self.table_size_updates.take() {
            // Dynamic table size updates (RFC 7541 §4.2, §6.3). Writing to
            // a Vec cannot fail.
            if smallest < last {
                let _ = encode_integer_into(smallest, 5, 0x20, &mut block);
            }
            let _ = encode_integer_into(last, 5, 0x20, &mut block);
        }
        let _ = self.encoder.encode_into(
            fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            &mut block,
        );
        frame::write_headers(
            &mut self.output,
            id,
            &block,
            end_stream,
            self.max_frame_size,
        );
    }
}
