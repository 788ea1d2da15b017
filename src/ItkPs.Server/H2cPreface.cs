using System.Buffers.Binary;
using System.Text;

namespace ItkPs.Server;

/// <summary>What the peeked bytes of a cleartext connection say about HTTP/2 with prior knowledge.</summary>
public enum PrefaceState
{
    /// <summary>Not the HTTP/2 connection preface: an HTTP/1.x request.</summary>
    NotH2,
    /// <summary>The preface, or a prefix of it, or the frames after it before the first HEADERS is whole.</summary>
    Incomplete,
    /// <summary>The preface and the first request's header block, read.</summary>
    Complete,
    /// <summary>The preface followed by frames that break RFC 9113 or RFC 7541: the worker's Kestrel will say so.</summary>
    Malformed,
}

/// <summary>
/// HTTP/2 in the clear with prior knowledge (RFC 9113 3.3): the 24-byte preface, then frames; the
/// dispatcher routes by the :authority (or Host) of the first HEADERS block, which it decodes with
/// <see cref="Hpack"/>. Only peeked: the worker's Kestrel reads the same bytes again.
/// </summary>
public static class H2cPreface
{
    public static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    /// <summary>The largest first header block read (the client has not yet seen our SETTINGS: 16 KB frames at most).</summary>
    public const int MaxHeaderBlock = 16384;

    private const byte Headers = 1, Continuation = 9, EndHeaders = 0x4, Padded = 0x8, Priority = 0x20;

    public static PrefaceState Parse(ReadOnlySpan<byte> bytes, out string? authority)
    {
        authority = null;
        int common = Math.Min(bytes.Length, Preface.Length);
        if (!bytes[..common].SequenceEqual(Preface[..common])) return PrefaceState.NotH2;
        if (bytes.Length < Preface.Length) return PrefaceState.Incomplete;
        int pos = Preface.Length;
        byte[]? block = null;
        int blockLength = 0, stream = -1;
        while (true)
        {
            if (bytes.Length - pos < 9) return PrefaceState.Incomplete;
            int length = (bytes[pos] << 16) | (bytes[pos + 1] << 8) | bytes[pos + 2];
            byte type = bytes[pos + 3], flags = bytes[pos + 4];
            int id = (int)(BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(pos + 5, 4)) & 0x7fffffff);
            if (length > 16384) return PrefaceState.Malformed; // larger than the default SETTINGS_MAX_FRAME_SIZE
            if (bytes.Length - pos - 9 < length) return PrefaceState.Incomplete;
            var payload = bytes.Slice(pos + 9, length);
            pos += 9 + length;
            if (block is not null && (type != Continuation || id != stream)) return PrefaceState.Malformed; // RFC 9113 6.10
            if (type == Headers)
            {
                if (id == 0 || id % 2 == 0) return PrefaceState.Malformed;
                int start = 0, pad = 0;
                if ((flags & Padded) != 0) { if (payload.IsEmpty) return PrefaceState.Malformed; pad = payload[0]; start = 1; }
                if ((flags & Priority) != 0) start += 5;
                if (start + pad > payload.Length) return PrefaceState.Malformed;
                var fragment = payload[start..(payload.Length - pad)];
                if ((flags & EndHeaders) != 0) return Decode(fragment, out authority);
                block = new byte[MaxHeaderBlock];
                fragment.CopyTo(block);
                blockLength = fragment.Length;
                stream = id;
            }
            else if (type == Continuation)
            {
                if (block is null) return PrefaceState.Malformed;
                if (blockLength + payload.Length > MaxHeaderBlock) return PrefaceState.Malformed;
                payload.CopyTo(block.AsSpan(blockLength));
                blockLength += payload.Length;
                if ((flags & EndHeaders) != 0) return Decode(block.AsSpan(0, blockLength), out authority);
            }
            // SETTINGS, WINDOW_UPDATE, PRIORITY, PING…: nothing the route depends on.
        }
    }

    private static PrefaceState Decode(ReadOnlySpan<byte> block, out string? authority) =>
        Hpack.TryFindAuthority(block, out authority) ? PrefaceState.Complete : PrefaceState.Malformed;
}

/// <summary>
/// An HPACK (RFC 7541) decoder for one header block — enough to find :authority or Host: the
/// static table, a dynamic table of the default 4096 bytes (a first block may fill and reference
/// it), integers, literals and the canonical Huffman code of Appendix B, given by its code lengths.
/// Hand-written because the decoders .NET has (System.Net.Http's, Kestrel's) are internal and NuGet
/// has no maintained one; it is checked against RFC 7541's examples and real clients' blocks.
/// </summary>
public static class Hpack
{
    private const int MaxTableSize = 4096, MaxString = 8192;

    /// <summary>RFC 7541 Appendix A: the names of the static table (the values of those with one do not matter here).</summary>
    private static readonly string[] StaticNames =
    [
        ":authority", ":method", ":method", ":path", ":path", ":scheme", ":scheme", ":status", ":status", ":status", ":status", ":status", ":status", ":status",
        "accept-charset", "accept-encoding", "accept-language", "accept-ranges", "accept", "access-control-allow-origin", "age", "allow", "authorization",
        "cache-control", "content-disposition", "content-encoding", "content-language", "content-length", "content-location", "content-range",
        "content-type", "cookie", "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range",
        "if-unmodified-since", "last-modified", "link", "location", "max-forwards", "proxy-authenticate", "proxy-authorization", "range", "referer",
        "refresh", "retry-after", "server", "set-cookie", "strict-transport-security", "transfer-encoding", "user-agent", "vary", "via", "www-authenticate",
    ];

    /// <summary>RFC 7541 Appendix B as code lengths per symbol 0..256 (EOS); the code is canonical, so this is all of it.</summary>
    private static readonly byte[] CodeLengths =
    [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
        30,
    ];

    // Canonical decoding: per code length, the first code, how many codes, and where their symbols start in Sorted.
    private static readonly int[] FirstCode = new int[31], Count = new int[31], FirstIndex = new int[31];
    private static readonly short[] Sorted = BuildCanonical();

    private static short[] BuildCanonical()
    {
        var order = Enumerable.Range(0, CodeLengths.Length).OrderBy(s => CodeLengths[s]).ThenBy(s => s).Select(s => (short)s).ToArray();
        foreach (var s in order) Count[CodeLengths[s]]++;
        int code = 0, index = 0;
        for (int len = 1; len <= 30; len++)
        {
            code = (code + Count[len - 1]) << 1;
            FirstCode[len] = code;
            FirstIndex[len] = index;
            index += Count[len];
        }
        return order;
    }

    /// <summary>
    /// Decodes <paramref name="block"/> and returns its :authority, else its Host, else null; false
    /// when the block is not valid HPACK (a bad index, a truncated string, bad Huffman padding).
    /// </summary>
    public static bool TryFindAuthority(ReadOnlySpan<byte> block, out string? authority)
    {
        authority = null;
        string? host = null;
        var table = new List<(string Name, string Value)>(); // newest first
        int tableSize = 0, maxSize = MaxTableSize;
        int pos = 0;
        while (pos < block.Length)
        {
            byte b = block[pos];
            string name, value;
            if ((b & 0x80) != 0)
            {
                if (!Integer(block, ref pos, 7, out int index) || !Entry(index, table, out name, out value)) return false;
            }
            else if ((b & 0x20) != 0 && (b & 0x40) == 0)
            {
                // dynamic table size update (001xxxxx): at most what our SETTINGS allow
                if (!Integer(block, ref pos, 5, out int size) || size > MaxTableSize) return false;
                maxSize = size;
                Evict(table, ref tableSize, maxSize);
                continue;
            }
            else
            {
                bool indexing = (b & 0x40) != 0;
                if (!Integer(block, ref pos, indexing ? 6 : 4, out int index)) return false;
                if (index == 0) { if (!String(block, ref pos, out name)) return false; }
                else if (!Entry(index, table, out name, out _)) return false;
                if (!String(block, ref pos, out value)) return false;
                if (indexing)
                {
                    int size = name.Length + value.Length + 32;
                    if (size > maxSize) { table.Clear(); tableSize = 0; }
                    else
                    {
                        table.Insert(0, (name, value));
                        tableSize += size;
                        Evict(table, ref tableSize, maxSize);
                    }
                }
            }
            if (name == ":authority" && authority is null) authority = value;
            else if (name == "host" && host is null) host = value;
        }
        authority ??= host;
        return true;
    }

    private static void Evict(List<(string Name, string Value)> table, ref int size, int max)
    {
        while (size > max && table.Count > 0)
        {
            var (n, v) = table[^1];
            size -= n.Length + v.Length + 32;
            table.RemoveAt(table.Count - 1);
        }
    }

    private static bool Entry(int index, List<(string Name, string Value)> table, out string name, out string value)
    {
        name = value = "";
        if (index <= 0) return false;
        if (index <= StaticNames.Length) { name = StaticNames[index - 1]; return true; } // static values: never :authority's
        int d = index - StaticNames.Length - 1;
        if (d >= table.Count) return false;
        (name, value) = table[d];
        return true;
    }

    /// <summary>RFC 7541 5.1: an integer with an N-bit prefix; bounded well below overflow.</summary>
    private static bool Integer(ReadOnlySpan<byte> b, ref int pos, int prefix, out int value)
    {
        value = 0;
        if (pos >= b.Length) return false;
        int max = (1 << prefix) - 1;
        value = b[pos++] & max;
        if (value < max) return true;
        for (int shift = 0; ; shift += 7)
        {
            if (pos >= b.Length || shift > 21) return false;
            byte next = b[pos++];
            value += (next & 0x7f) << shift;
            if ((next & 0x80) == 0) return true;
        }
    }

    /// <summary>RFC 7541 5.2: a string literal, raw or Huffman-coded.</summary>
    private static bool String(ReadOnlySpan<byte> b, ref int pos, out string s)
    {
        s = "";
        if (pos >= b.Length) return false;
        bool huffman = (b[pos] & 0x80) != 0;
        if (!Integer(b, ref pos, 7, out int length) || length > MaxString || b.Length - pos < length) return false;
        var raw = b.Slice(pos, length);
        pos += length;
        if (!huffman) { s = Encoding.Latin1.GetString(raw); return true; }
        return Huffman(raw, out s);
    }

    /// <summary>Canonical Huffman decoding, bit by bit; the padding must be the most significant bits of EOS (all ones) and shorter than 8.</summary>
    internal static bool Huffman(ReadOnlySpan<byte> raw, out string s)
    {
        s = "";
        var sb = new StringBuilder(raw.Length * 8 / 5);
        int code = 0, len = 0;
        bool allOnes = true;
        foreach (byte octet in raw)
            for (int bit = 7; bit >= 0; bit--)
            {
                int v = (octet >> bit) & 1;
                code = (code << 1) | v;
                len++;
                allOnes &= v == 1;
                if (len > 30) return false;
                int offset = code - FirstCode[len];
                if (offset < 0 || offset >= Count[len]) continue;
                int symbol = Sorted[FirstIndex[len] + offset];
                if (symbol == 256) return false; // EOS inside a string is an error (RFC 7541 5.2)
                sb.Append((char)symbol);
                code = len = 0;
                allOnes = true;
            }
        if (len > 7 || !allOnes) return false;
        s = sb.ToString();
        return true;
    }
}
