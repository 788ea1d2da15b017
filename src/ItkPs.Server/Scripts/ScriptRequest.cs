using System.Globalization;
using System.Text;
using ItkPs.Core.Config;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ItkPs.Core.Htaccess;

namespace ItkPs.Server.Scripts;

/// <summary>A request for a script, resolved to a file: what the CGI/1.1 environment is built from.</summary>
public sealed record ScriptTarget(string ScriptFile, string ScriptName, string PathInfo, string DocumentRoot, string? RemoteUser, string? AuthType);

/// <summary>
/// The CGI/1.1 meta-variables (RFC 3875) as Apache sets them for a request (ap_add_common_vars and
/// ap_add_cgi_vars), for a CGI program's environment and for FastCGI PARAMS alike: the client's
/// headers as HTTP_*, the server's SERVER_* (with UseCanonicalName Off, the name and port of the
/// Host header), the request's environment (SetEnv, SetEnvIf, RewriteRule [E=], REDIRECT_* after an
/// internal redirect), REQUEST_URI as the client sent it. Authorization goes on only with
/// CGIPassAuth On, as in Apache (ap_add_common_vars, for CGI and mod_proxy_fcgi alike); the PHP the
/// worker runs also gets what mod_php gives PHP whatever CGIPassAuth says: PHP_AUTH_USER and
/// PHP_AUTH_PW (or PHP_AUTH_DIGEST) decoded from the header as php_handle_auth_data decodes it.
/// </summary>
public static class CgiEnvironment
{
    public static List<KeyValuePair<string, string>> Build(HttpContext c, RequestRec r, ScriptTarget t, bool forPhp, bool passAuth, string software, bool phpAuth = false)
    {
        var x = r.X;
        var env = new HeaderTable(48);
        void Add(string k, string? v) { if (v is not null) env.Set(k, v); }
        foreach (var (k, v) in x.HeadersIn)
        {
            if (k.Equals("Content-Type", StringComparison.OrdinalIgnoreCase) || k.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                // httpoxy: a client's "Proxy:" header must never become HTTP_PROXY
                || k.Equals("Proxy", StringComparison.OrdinalIgnoreCase))
                continue;
            if ((k.Equals("Authorization", StringComparison.OrdinalIgnoreCase) || k.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase)) && !passAuth)
                continue;
            string name = MetaName(k);
            string? seen = env.Get(name);
            env.Set(name, seen is null ? v : seen + ", " + v);
        }
        Add("SERVER_SIGNATURE", "");
        Add("SERVER_SOFTWARE", software);
        Add("SERVER_NAME", x.ServerName);
        Add("SERVER_ADDR", x.LocalIp?.ToString());
        Add("SERVER_PORT", x.HostPort.ToString(CultureInfo.InvariantCulture));
        Add("REMOTE_ADDR", x.RemoteIp?.ToString());
        Add("DOCUMENT_ROOT", t.DocumentRoot);
        Add("REQUEST_SCHEME", x.Scheme);
        Add("CONTEXT_PREFIX", "");
        Add("CONTEXT_DOCUMENT_ROOT", t.DocumentRoot);
        Add("SERVER_ADMIN", "[no address given]");
        Add("SCRIPT_FILENAME", t.ScriptFile);
        Add("REMOTE_PORT", x.RemotePort.ToString(CultureInfo.InvariantCulture));
        Add("REMOTE_USER", t.RemoteUser);
        Add("AUTH_TYPE", t.AuthType);
        if (x.IsHttps) Add("HTTPS", "on");
        if (r.Prev is { } prev)
        {
            if (prev.Args is not null) Add("REDIRECT_QUERY_STRING", prev.Args);
            Add("REDIRECT_URL", prev.Uri);
        }
        foreach (var (k, v) in r.Env) env.Set(k, v);
        Add("GATEWAY_INTERFACE", "CGI/1.1");
        Add("SERVER_PROTOCOL", x.Protocol);
        Add("REQUEST_METHOD", r.Method);
        Add("QUERY_STRING", r.Args ?? "");
        Add("REQUEST_URI", r.Original.UnparsedUri);
        Add("SCRIPT_NAME", t.ScriptName);
        if (t.PathInfo.Length > 0)
        {
            Add("PATH_INFO", t.PathInfo);
            Add("PATH_TRANSLATED", t.DocumentRoot.TrimEnd('/') + t.PathInfo);
        }
        if (c.Request.ContentLength is long length) Add("CONTENT_LENGTH", length.ToString(CultureInfo.InvariantCulture));
        Add("CONTENT_TYPE", c.Request.ContentType);
        if (phpAuth && !env.Contains("HTTP_AUTHORIZATION") && x.HeadersIn.Get("Authorization") is { } auth)
            foreach (var (k, v) in PhpAuthData(auth)) Add(k, v);
        // php-cgi runs only when it sees it was started by a server (cgi.force_redirect)
        if (forPhp && !env.Contains("REDIRECT_STATUS")) Add("REDIRECT_STATUS", "200");
        return env.ToList();
    }

    /// <summary>
    /// PHP's php_handle_auth_data: "Basic" (any case) and base64 of user:password, decoded leniently
    /// (characters outside the alphabet and padding skipped, a last partial group cut off), split at
    /// the first ':'; else "Digest" and the rest. What PHP would derive from HTTP_AUTHORIZATION.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, string>> PhpAuthData(string auth)
    {
        if (auth.Length > 6 && auth.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            var bytes = LenientBase64(auth.AsSpan(6));
            int colon = Array.IndexOf(bytes, (byte)':');
            if (colon >= 0)
            {
                // PHP keeps C strings: a NUL in the decoded text ends the user or the password there
                string Cut(int from, int to) { int nul = Array.IndexOf(bytes, (byte)0, from, to - from); return System.Text.Encoding.UTF8.GetString(bytes, from, (nul < 0 ? to : nul) - from); }
                yield return new("PHP_AUTH_USER", Cut(0, colon));
                yield return new("PHP_AUTH_PW", Cut(colon + 1, bytes.Length));
                yield break;
            }
        }
        if (auth.Length > 7 && auth.StartsWith("Digest ", StringComparison.OrdinalIgnoreCase))
            yield return new("PHP_AUTH_DIGEST", auth[7..]);
    }

    private static byte[] LenientBase64(ReadOnlySpan<char> s)
    {
        var output = new List<byte>(s.Length * 3 / 4);
        int acc = 0, bits = 0;
        foreach (char ch in s)
        {
            int v = ch switch
            {
                >= 'A' and <= 'Z' => ch - 'A', >= 'a' and <= 'z' => ch - 'a' + 26, >= '0' and <= '9' => ch - '0' + 52,
                '+' => 62, '/' => 63, _ => -1,
            };
            if (v < 0) continue;
            acc = (acc << 6) | v; bits += 6;
            if (bits >= 8) { bits -= 8; output.Add((byte)(acc >> bits)); acc &= (1 << bits) - 1; }
        }
        return output.ToArray();
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Names = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>"User-Agent" → "HTTP_USER_AGENT"; remembered, since clients send the same few names (bounded against floods).</summary>
    private static string MetaName(string header)
    {
        if (Names.TryGetValue(header, out var known)) return known;
        var name = new StringBuilder("HTTP_", header.Length + 5);
        foreach (char ch in header) name.Append(ch == '-' ? '_' : char.ToUpperInvariant(ch));
        string s = name.ToString();
        if (Names.Count < 1000) Names.TryAdd(header, s);
        return s;
    }
}

/// <summary>A stream that can tell, without waiting, that everything up to its end is already buffered.</summary>
public interface IBufferedEnd
{
    bool RestIsBuffered { get; }
}

/// <summary>
/// A script's output (CGI/1.1, section 6): a header block, an empty line, the body. Status,
/// Location and Content-Type are interpreted; other headers pass through. The body is copied
/// as it arrives (streamed), with a Content-Length when the whole of it came at once.
/// </summary>
public static class CgiOutput
{
    private const int MaxHeader = 64 * 1024;

    /// <summary>The outcome of reading the header block.</summary>
    public enum Result { Sent, LocalRedirect, BadHeader, Timeout }

    /// <summary>
    /// Copies the script's answer to the response. A "Location: /local" answer without Status is
    /// returned as <see cref="Result.LocalRedirect"/> for the caller to serve (RFC 3875 6.2.2);
    /// <paramref name="timeout"/> is how long the script may stay silent (Timeout / CGIScriptTimeout).
    /// </summary>
    public static async Task<(Result Result, string? Location)> CopyAsync(Stream output, HttpContext context, Action<string> logError, TimeSpan timeout, CancellationToken aborted, int defaultStatus = 200)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        try { return await CopyCoreAsync(output, context, logError, timeout, cts, defaultStatus); }
        catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
        {
            logError($"script timed out: no output for {timeout.TotalSeconds:0} s");
            return (Result.Timeout, null);
        }
    }

    private static async Task<(Result Result, string? Location)> CopyCoreAsync(Stream output, HttpContext context, Action<string> logError, TimeSpan timeout, CancellationTokenSource cts, int defaultStatus)
    {
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try { return await CopyWithBufferAsync(output, context, logError, timeout, cts, buffer, defaultStatus); }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
    }

    private static async Task<(Result Result, string? Location)> CopyWithBufferAsync(Stream output, HttpContext context, Action<string> logError, TimeSpan timeout, CancellationTokenSource cts, byte[] pooled, int defaultStatus)
    {
        var ct = cts.Token;
        var response = context.Response;
        byte[] buffer = pooled;
        // The silence timer is re-armed before a read only when a quarter of it has run: re-arming
        // takes the timer queue's lock, and a fast script reads many times a second. So a script
        // is ended after between three quarters of the timeout and the whole of it in silence.
        long armedAt = Environment.TickCount64;
        cts.CancelAfter(timeout);
        void Arm()
        {
            long now = Environment.TickCount64;
            if (now - armedAt < timeout.TotalMilliseconds / 4) return;
            armedAt = now;
            cts.CancelAfter(timeout);
        }
        int filled = 0, bodyStart = -1, headerEnd = -1;
        bool eof = false;
        while (bodyStart < 0)
        {
            if (filled == buffer.Length)
            {
                if (buffer.Length >= MaxHeader) { logError("malformed header from script: the header block is over 64 KiB"); return (Result.BadHeader, null); }
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            Arm();
            int n = await output.ReadAsync(buffer.AsMemory(filled), ct);
            if (n == 0) { eof = true; break; }
            int from = Math.Max(0, filled - 3);
            filled += n;
            for (int i = from; i < filled; i++)
            {
                if (buffer[i] != '\n') continue;
                if (i + 1 < filled && buffer[i + 1] == '\n') { headerEnd = i; bodyStart = i + 2; break; }
                if (i + 2 < filled && buffer[i + 1] == '\r' && buffer[i + 2] == '\n') { headerEnd = i; bodyStart = i + 3; break; }
            }
        }
        if (bodyStart < 0)
        {
            logError(filled == 0 ? "end of script output before headers" : "malformed header from script: no empty line after the headers");
            return (Result.BadHeader, null);
        }

        string? status = null, location = null, contentType = null;
        long? contentLength = null;
        var extra = new List<(string, string)>();
        foreach (var rawLine in Encoding.Latin1.GetString(buffer, 0, headerEnd).Split('\n'))
        {
            string line = rawLine.TrimEnd('\r');
            if (line.Length == 0) continue;
            int colon = line.IndexOf(':');
            if (colon <= 0) { logError($"malformed header from script: '{Trim(line)}'"); return (Result.BadHeader, null); }
            string name = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
            if (name.Equals("Status", StringComparison.OrdinalIgnoreCase)) status = value;
            else if (name.Equals("Location", StringComparison.OrdinalIgnoreCase)) location = value;
            else if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) contentType = value;
            else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) && long.TryParse(value, out var cl)) contentLength = cl;
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) || name.Equals("Connection", StringComparison.OrdinalIgnoreCase)) { } // hop-by-hop: the server's own
            else extra.Add((name, value));
        }

        int code = defaultStatus;
        if (status is not null)
        {
            if (status.Length < 3 || !int.TryParse(status.AsSpan(0, 3), out code) || code < 100 || code > 999)
            {
                logError($"malformed header from script: bad Status '{Trim(status)}'");
                return (Result.BadHeader, null);
            }
        }
        else if (location is not null)
        {
            if (location.StartsWith('/')) return (Result.LocalRedirect, location);
            code = 302;
        }

        response.StatusCode = code;
        if (location is not null) response.Headers.Location = location;
        if (contentType is not null) response.ContentType = contentType;
        foreach (var (n, v) in extra) response.Headers.Append(n, v);

        if (!eof && output is IBufferedEnd b && b.RestIsBuffered)
        {
            // The whole (short) response is already in memory: take it, and send it with a length.
            int n;
            while (true)
            {
                if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
                if ((n = await output.ReadAsync(buffer.AsMemory(filled), ct)) == 0) break;
                filled += n;
            }
            eof = true;
        }
        int have = filled - bodyStart;
        if (eof) response.ContentLength = have;
        else if (contentLength is not null) response.ContentLength = contentLength;
        if (HttpMethods.IsHead(context.Request.Method)) { await DrainAsync(output, buffer, ct); return (Result.Sent, null); }
        if (have > 0) await response.Body.WriteAsync(buffer.AsMemory(bodyStart, have), ct);
        if (!eof)
        {
            int n;
            while (true)
            {
                Arm();
                if ((n = await output.ReadAsync(buffer, ct)) == 0) break;
                await response.Body.WriteAsync(buffer.AsMemory(0, n), ct);
            }
        }
        return (Result.Sent, null);
    }

    private static async Task DrainAsync(Stream s, byte[] buffer, CancellationToken ct)
    {
        while (await s.ReadAsync(buffer, ct) > 0) { }
    }

    private static string Trim(string s) => s.Length > 80 ? s[..80] + "…" : s;
}
