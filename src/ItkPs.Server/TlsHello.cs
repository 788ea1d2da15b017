using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace ItkPs.Server;

/// <summary>What the peeked bytes on a TLS port amount to so far.</summary>
public enum HelloState
{
    /// <summary>A strict prefix of a ClientHello: wait for more.</summary>
    Incomplete,
    /// <summary>A whole ClientHello; its server_name and ALPN are read.</summary>
    Complete,
    /// <summary>Not a ClientHello TLS could accept: answer with the alert and close.</summary>
    Malformed,
    /// <summary>Plain HTTP on a TLS port (a request line where a record should be): answer 400.</summary>
    PlainHttp,
}

/// <summary>What the dispatcher takes from a ClientHello: the host_name of server_name (raw, as sent) and the ALPN names offered.</summary>
public sealed record ClientHelloInfo(string? ServerName, IReadOnlyList<string> Alpn, int Length);

/// <summary>
/// The dispatcher's reading of a ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2) from peeked bytes:
/// the handshake message is reassembled from as many records as it was cut into (a record may
/// hold a single byte), bounded by <see cref="MaxHello"/>, and only server_name (RFC 6066 3) and
/// ALPN (RFC 7301) are read — the worker's OpenSSL parses the same bytes again and does the
/// handshake. Hand-written because no library exposes a ClientHello parser over a byte span; it
/// is small and rejects what OpenSSL rejects before it would route by a name OpenSSL never sees.
/// Never throws: every length is checked before it is used.
/// </summary>
public static class TlsHello
{
    /// <summary>The largest ClientHello accepted (post-quantum key shares make ~2 KB ones; 20 KB ones exist).</summary>
    public const int MaxHello = 32 * 1024;

    // TLS alert descriptions (RFC 8446 6.2).
    public const byte UnexpectedMessage = 10, RecordOverflow = 22, HandshakeFailure = 40, IllegalParameter = 47, DecodeError = 50,
        ProtocolVersion = 70, UnrecognizedName = 112;

    private const byte HandshakeRecord = 22, ClientHelloType = 1;
    private const int MaxRecord = 16384 + 256; // 2^14 plaintext; TLSPlaintext never exceeds it, the slack is what OpenSSL allows

    /// <summary>The fatal alert record for <paramref name="description"/> (sent in the clear, before any handshake).</summary>
    public static byte[] Alert(byte description) => [21, 3, 3, 0, 2, 2, description];

    /// <summary>
    /// Classifies <paramref name="bytes"/> (everything peeked so far). On <see cref="HelloState.Malformed"/>
    /// <paramref name="alert"/> is the alert to send; on <see cref="HelloState.Complete"/> <paramref name="hello"/> is set.
    /// </summary>
    public static HelloState Parse(ReadOnlySpan<byte> bytes, out ClientHelloInfo? hello, out byte alert)
    {
        hello = null;
        alert = 0;
        if (bytes.IsEmpty) return HelloState.Incomplete;
        byte first = bytes[0];
        if (first != HandshakeRecord)
        {
            if ((first & 0x80) != 0) { alert = ProtocolVersion; return HelloState.Malformed; } // an SSLv2-style header: no TLS server speaks it
            if (first is >= (byte)'A' and <= (byte)'Z') return HelloState.PlainHttp;              // a request method
            alert = UnexpectedMessage;
            return HelloState.Malformed;
        }

        // Pass 1: walk the records until the handshake message is whole; read its 4-byte header on the way.
        int pos = 0, total = 0, need = -1, fragments = 0;
        Span<byte> header = stackalloc byte[4];
        while (need < 0 || total < need)
        {
            if (bytes.Length - pos < 5) return HelloState.Incomplete;
            if (bytes[pos] != HandshakeRecord) { alert = UnexpectedMessage; return HelloState.Malformed; } // handshake messages are never interleaved
            if (bytes[pos + 1] != 3) { alert = ProtocolVersion; return HelloState.Malformed; }
            int length = BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice(pos + 3, 2));
            if (length > MaxRecord) { alert = RecordOverflow; return HelloState.Malformed; }
            if (bytes.Length - pos - 5 < length) return HelloState.Incomplete;
            var fragment = bytes.Slice(pos + 5, length);
            for (int i = 0; i < fragment.Length && total + i < 4; i++) header[total + i] = fragment[i];
            total += length;
            pos += 5 + length;
            fragments++;
            if (need < 0 && total >= 4)
            {
                if (header[0] != ClientHelloType) { alert = UnexpectedMessage; return HelloState.Malformed; }
                int body = (header[1] << 16) | (header[2] << 8) | header[3];
                if (body > MaxHello) { alert = HandshakeFailure; return HelloState.Malformed; }
                need = 4 + body;
            }
        }

        // Pass 2: the message as one span — the record's own bytes when it came in one record, else copied together.
        if (fragments == 1) return Body(bytes.Slice(5 + 4, need - 4), need, out hello, out alert);
        byte[] joined = ArrayPool<byte>.Shared.Rent(need);
        try
        {
            int n = 0;
            for (int p = 0; n < need; )
            {
                int length = BinaryPrimitives.ReadUInt16BigEndian(bytes.Slice(p + 3, 2));
                int take = Math.Min(length, need - n);
                bytes.Slice(p + 5, take).CopyTo(joined.AsSpan(n));
                n += take;
                p += 5 + length;
            }
            return Body(joined.AsSpan(4, need - 4), need, out hello, out alert);
        }
        finally { ArrayPool<byte>.Shared.Return(joined); }
    }

    /// <summary>The ClientHello body: version, random, session id, cipher suites, compression, extensions.</summary>
    private static HelloState Body(ReadOnlySpan<byte> b, int length, out ClientHelloInfo? hello, out byte alert)
    {
        hello = null;
        alert = DecodeError;
        var r = new Reader(b);
        if (!r.Take(2, out var version) || version[0] != 3) { alert = ProtocolVersion; return HelloState.Malformed; }
        if (!r.Take(32, out _)) return HelloState.Malformed;
        if (!r.Vector(1, out var sessionId) || sessionId.Length > 32) return HelloState.Malformed;
        if (!r.Vector(2, out var suites) || suites.Length < 2 || suites.Length % 2 != 0) return HelloState.Malformed;
        if (!r.Vector(1, out var compression) || compression.Length < 1) return HelloState.Malformed;
        string? serverName = null;
        var alpn = new List<string>();
        if (!r.AtEnd)
        {
            if (!r.Vector(2, out var extensions) || !r.AtEnd) return HelloState.Malformed;
            var seen = new HashSet<ushort>();
            var e = new Reader(extensions);
            while (!e.AtEnd)
            {
                if (!e.U16(out ushort type) || !e.Vector(2, out var data)) return HelloState.Malformed;
                if (!seen.Add(type)) { alert = IllegalParameter; return HelloState.Malformed; } // RFC 8446 4.2: one of each
                switch (type)
                {
                    case 0: // server_name: a list, of which OpenSSL reads the first entry, which must be a host_name
                        if (data.IsEmpty) break; // an empty extension in a ServerHello's form: no name
                        var sn = new Reader(data);
                        if (!sn.Vector(2, out var list) || !sn.AtEnd || list.IsEmpty) return HelloState.Malformed;
                        var entry = new Reader(list);
                        if (!entry.Take(1, out var nameType) || nameType[0] != 0 || !entry.Vector(2, out var name) || name.IsEmpty) return HelloState.Malformed;
                        if (name.Length > 255 || name.Contains((byte)0)) { alert = UnrecognizedName; return HelloState.Malformed; }
                        serverName = Encoding.Latin1.GetString(name);
                        break;
                    case 16: // application_layer_protocol_negotiation
                        var al = new Reader(data);
                        if (!al.Vector(2, out var names) || !al.AtEnd || names.IsEmpty) return HelloState.Malformed;
                        var n = new Reader(names);
                        while (!n.AtEnd)
                        {
                            if (!n.Vector(1, out var proto) || proto.IsEmpty) return HelloState.Malformed;
                            if (alpn.Count < 16) alpn.Add(Encoding.Latin1.GetString(proto));
                        }
                        break;
                }
            }
        }
        hello = new ClientHelloInfo(serverName, alpn, length);
        alert = 0;
        return HelloState.Complete;
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;
        public readonly bool AtEnd => _rest.IsEmpty;

        public bool Take(int n, out ReadOnlySpan<byte> taken)
        {
            if (_rest.Length < n) { taken = default; return false; }
            taken = _rest[..n];
            _rest = _rest[n..];
            return true;
        }

        public bool U16(out ushort value)
        {
            value = 0;
            if (!Take(2, out var t)) return false;
            value = BinaryPrimitives.ReadUInt16BigEndian(t);
            return true;
        }

        /// <summary>A vector with a length prefix of <paramref name="prefix"/> bytes (1 or 2).</summary>
        public bool Vector(int prefix, out ReadOnlySpan<byte> body)
        {
            body = default;
            if (!Take(prefix, out var l)) return false;
            int length = prefix == 1 ? l[0] : BinaryPrimitives.ReadUInt16BigEndian(l);
            return Take(length, out body);
        }
    }
}
