using System.Text;

namespace ItkPs.Server;

/// <summary>What the peeked bytes of a connection amount to so far.</summary>
public enum HeadState { Incomplete, Complete, Malformed }

/// <summary>
/// The dispatcher's reading of a peeked HTTP/1.x request head: complete, still arriving, or
/// malformed — decided as early as the bytes allow, so a bare-LF head, junk or a TLS ClientHello
/// on a plain port gets 400 at once (as Apache's strict parsing answers) instead of waiting for a
/// timeout. Runs once per peek on the dispatcher's thread: no strings until the Host is found.
/// </summary>
public static class HttpHead
{
    public static HeadState Classify(ReadOnlySpan<byte> bytes)
    {
        int lf = bytes.IndexOf((byte)'\n');
        var firstLine = lf < 0 ? bytes : bytes[..lf];
        // The request line so far: METHOD (a token) SP target SP HTTP/x.y CR LF
        int i = 0;
        while (i < firstLine.Length && IsToken(firstLine[i])) i++;
        if (i < firstLine.Length && (firstLine[i] != (byte)' ' || i == 0)) return HeadState.Malformed;
        if (lf < 0) return HeadState.Incomplete;
        if (lf == 0 || bytes[lf - 1] != (byte)'\r') return HeadState.Malformed; // bare LF
        if (!ValidRequestLine(bytes[..(lf - 1)])) return HeadState.Malformed;
        // Header lines: every LF must follow a CR; the head ends at an empty line.
        int pos = lf + 1;
        while (true)
        {
            int next = bytes[pos..].IndexOf((byte)'\n');
            if (next < 0) return HeadState.Incomplete;
            int end = pos + next;
            if (end == pos || bytes[end - 1] != (byte)'\r') return HeadState.Malformed;
            if (end == pos + 1) return HeadState.Complete; // "\r\n": the empty line
            pos = end + 1;
        }
    }

    private static bool IsToken(byte b) => b > 0x20 && b < 0x7f && "()<>@,;:\\\"/[]?={}".IndexOf((char)b) < 0;

    private static bool ValidRequestLine(ReadOnlySpan<byte> line)
    {
        int sp1 = line.IndexOf((byte)' '), sp2 = line.LastIndexOf((byte)' ');
        if (sp1 <= 0 || sp2 <= sp1 + 1) return false;
        if (line[(sp1 + 1)..sp2].IndexOf((byte)' ') >= 0) return false;
        var version = line[(sp2 + 1)..];
        return version.Length == 8 && version.StartsWith("HTTP/"u8) && char.IsAsciiDigit((char)version[5]) && version[6] == (byte)'.' && char.IsAsciiDigit((char)version[7]);
    }

    /// <summary>
    /// The Host of a complete head (null for HTTP/1.0 without one): an absolute-form target's
    /// authority wins over the Host header (RFC 9112 3.2.2), as in Apache. Two Host headers are
    /// malformed (400, as Apache).
    /// </summary>
    public static string? Host(ReadOnlySpan<byte> head, out bool malformed)
    {
        malformed = false;
        int end = head.IndexOf("\r\n\r\n"u8);
        if (end >= 0) head = head[..end];
        int eol = head.IndexOf("\r\n"u8);
        var requestLine = eol < 0 ? head : head[..eol];
        int sp1 = requestLine.IndexOf((byte)' '), sp2 = requestLine.LastIndexOf((byte)' ');
        if (sp1 <= 0 || sp2 <= sp1 + 1 || requestLine[(sp1 + 1)..sp2].IndexOf((byte)' ') >= 0 || !requestLine[(sp2 + 1)..].StartsWith("HTTP/"u8))
        {
            malformed = true;
            return null;
        }
        var target = requestLine[(sp1 + 1)..sp2];
        string? host = null;
        var rest = eol < 0 ? ReadOnlySpan<byte>.Empty : head[(eol + 2)..];
        while (!rest.IsEmpty)
        {
            int e = rest.IndexOf("\r\n"u8);
            var line = e < 0 ? rest : rest[..e];
            rest = e < 0 ? ReadOnlySpan<byte>.Empty : rest[(e + 2)..];
            int colon = line.IndexOf((byte)':');
            if (colon <= 0 || !Ascii.EqualsIgnoreCase(line[..colon].Trim((byte)' '), "host"u8)) continue;
            if (host is not null) { malformed = true; return null; }
            host = Encoding.Latin1.GetString(line[(colon + 1)..].Trim(" \t"u8));
        }
        if (!target.IsEmpty && target[0] != (byte)'/' && Uri.TryCreate(Encoding.Latin1.GetString(target), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            host = uri.Authority;
        return host;
    }
}
