using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using ItkPs.Core.Htaccess;
using ItkPs.Server.Scripts;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace ItkPs.Server;

/// <summary>
/// One request of a worker's vhost, as Apache runs it: the request limits are checked, the request
/// engine takes it through translate, the directory walk (with .htaccess), access, types and
/// fixups, and then the handler runs: an internal redirect (RewriteRule), a static file, a
/// directory listing, a CGI program, PHP, or a FastCGI socket. Errors are answered as Apache
/// answers them (ErrorDocument first), and mod_headers, mod_expires and AddDefaultCharset act on
/// the response as its headers go out. Everything runs as the worker's user, so the kernel
/// decides what may be read or run.
/// </summary>
public sealed class Pipeline(Snapshot snapshot, StaticFiles files, ScriptHost scripts) : IEngineHost
{
    /// <summary>SERVER_SOFTWARE: the server's name, and that it takes Apache's configuration (applications look for "Apache" to know rewriting works).</summary>
    /// <summary>Apache's LimitRequestBody default since 2.4.54.</summary>
    public const long DefaultLimitRequestBody = 1L << 30;

    public static readonly string Banner = $"itkd/{typeof(Pipeline).Assembly.GetName().Version?.ToString(3) ?? "0"} (Apache-compatible)";

    private readonly TimeSpan _defaultTimeout = TimeSpan.FromSeconds(snapshot.TimeoutSeconds > 0 ? snapshot.TimeoutSeconds : 60);
    private readonly ConcurrentDictionary<VirtualHost, Lazy<(RequestEngine? Engine, string? Error)>> _engines = new();
    private readonly HtaccessCache _htaccess = new();

    public BasicAuth Auth { get; } = new();
    public MimeTypes Types => MimeTypes.System;
    public string Software => Banner;

    /// <summary>.htaccess files read so far (for the tests that tell a cache hit from a re-read).</summary>
    public long HtaccessReads => _htaccess.Reads;

    /// <summary>The request limits every vhost of this worker allows at most, for Kestrel's own (coarser) limits.</summary>
    public static (int Line, int FieldSize, int Fields) MaxLimits(Snapshot s)
    {
        int line = 8190, size = 8190, fields = 100;
        foreach (var d in s.ServerDirectives.Concat(s.VirtualHosts.SelectMany(v => v.Directives)))
        {
            if (d.Args.Count != 1 || !int.TryParse(d.Args[0], out int v)) continue;
            if (d.Is("LimitRequestLine")) line = Math.Max(line, v);
            else if (d.Is("LimitRequestFieldSize")) size = Math.Max(size, v);
            else if (d.Is("LimitRequestFields")) fields = Math.Max(fields, v);
        }
        return (line, size, fields);
    }

    private (RequestEngine? Engine, string? Error) EngineFor(VirtualHost vh) => _engines.GetOrAdd(vh, v => new(() =>
    {
        try { return (new RequestEngine(this, VhostRuntime.Compile(v, snapshot.ServerDirectives, snapshot.ServerSections), _htaccess), null); }
        catch (DirectiveException e) { return (null, e.ToString()); }
    })).Value;

    /// <summary>What the response will say, shared with the OnStarting callback that finishes its headers.</summary>
    private sealed class ResponseState
    {
        public RequestRec? Final;
        public bool ServerError;
    }

    /// <summary>Serves the request; <paramref name="log"/> writes a line to the vhost's error log.</summary>
    public async Task ServeAsync(HttpContext c, VirtualHost vh, Action<string> log)
    {
        var (engine, error) = EngineFor(vh);
        if (engine is null) { log($"configuration: {error}"); await SendErrorAsync(c, null, 500, null); return; }
        var rt = engine.Vhost;
        var request = c.Request;

        // LimitRequestFieldSize / LimitRequestFields, with Apache's answers
        int fields = 0;
        foreach (var h in request.Headers)
        {
            foreach (var value in h.Value)
            {
                fields++;
                if (h.Key.Length + 2 + (value?.Length ?? 0) > rt.LimitRequestFieldSize)
                {
                    log("AH00561: Size of a request header field exceeds server limit.");
                    await SendErrorAsync(c, null, 400, null, $"<p>Your browser sent a request that this server could not understand.<br />\nSize of a request header field exceeds server limit.<br />\n</p>");
                    return;
                }
            }
        }
        if (fields > rt.LimitRequestFields)
        {
            log("AH00563: Number of request header fields exceeds server limit.");
            await SendErrorAsync(c, null, 400, null);
            return;
        }
        string raw = c.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.Value ?? "/";
        if (request.Method.Length + 1 + raw.Length + 1 + request.Protocol.Length > rt.LimitRequestLine)
        {
            log($"AH00565: request failed: client's request-line exceeds LimitRequestLine ({rt.LimitRequestLine})");
            await SendErrorAsync(c, null, 414, null);
            return;
        }

        var headersIn = new HeaderTable(request.Headers.Count);
        foreach (var h in request.Headers) foreach (var v in h.Value) headersIn.Add(h.Key, v ?? "");
        var (hostName, hostPort) = HostOf(request.Headers.Host.ToString(), vh, request.IsHttps);
        var x = new Exchange
        {
            Vhost = vh, DocumentRoot = rt.DocumentRoot, Protocol = request.Protocol, Scheme = request.IsHttps ? "https" : "http",
            IsHttps = request.IsHttps, TheRequest = $"{request.Method} {raw} {request.Protocol}", HeadersIn = headersIn,
            RemoteIp = c.Connection.RemoteIpAddress, RemotePort = c.Connection.RemotePort, LocalIp = c.Connection.LocalIpAddress,
            LocalPort = c.Connection.LocalPort, ServerName = hostName, HostPort = hostPort,
            Log = (level, message) => log(level == "error" ? message : $"[{level}] {message}"),
        };
        string target = PathAndQuery(raw);
        int q = target.IndexOf('?');
        var norm = UrlMapper.Normalize(target);
        var r = new RequestRec(x, request.Method, norm.Ok ? norm.Uri : "/", q < 0 ? null : target[(q + 1)..], target);
        r.PerDir = rt.Base;
        var state = new ResponseState();
        c.Response.OnStarting(() => { FinishHeaders(c, engine, state); return Task.CompletedTask; });
        if (!norm.Ok) { await DieAsync(c, engine, r, norm.Status, state); return; }

        while (r is not null)
        {
            int status = await engine.ProcessAsync(r);
            // LimitRequestBody (1 GiB unless configured, as since Apache 2.4.54; 0 = none): a body
            // announced larger than the limit is refused before anything reads it, a chunked one when it gets there
            if (status == 0 && (r.PerDir.Core.LimitRequestBody ?? DefaultLimitRequestBody) is long limit and > 0)
            {
                if (request.ContentLength > limit) status = 413;
                else if (c.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } max) max.MaxRequestBodySize = limit;
            }
            if (status != 0) { r = await DieAsync(c, engine, r, status, state); continue; }
            state.Final = r;
            Handled done;
            try { done = await HandleAsync(c, engine, r, log); }
            catch (BadHttpRequestException e) when (e.StatusCode == 413 && !c.Response.HasStarted)
            {
                r = await DieAsync(c, engine, r, 413, state);
                continue;
            }
            if (done.Error != 0) { r = await DieAsync(c, engine, r, done.Error, state); continue; }
            if (done.Redirect is not { } next) return;
            // a CGI "Location: /local" is answered as a GET (RFC 3875 6.2.2); a RewriteRule keeps the method
            bool cgiRedirect = done.FromScript;
            var (nr, s) = engine.InternalRedirect(r, next, cgiRedirect ? "GET" : null);
            if (nr is null) { r = await DieAsync(c, engine, r, s, state); continue; }
            if (cgiRedirect) { request.Method = "GET"; request.ContentLength = 0; }
            r = nr;
        }
    }

    /// <summary>The path and query of a request target (an absolute-form target's authority picked the vhost already).</summary>
    private static string PathAndQuery(string raw)
    {
        if (raw.StartsWith('/')) return raw;
        int scheme = raw.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) return raw;
        int slash = raw.IndexOfAny(['/', '?'], scheme + 3);
        return slash < 0 ? "/" : raw[slash] == '?' ? "/" + raw[slash..] : raw[slash..];
    }

    /// <summary>UseCanonicalName Off: the name and port the client used (Host header), else the vhost's name and the default port.</summary>
    private static (string Name, int Port) HostOf(string host, VirtualHost vh, bool https)
    {
        int def = https ? 443 : 80;
        if (host.Length == 0) return (vh.Name.Length > 0 ? vh.Name : "localhost", def);
        if (host.StartsWith('['))
        {
            int close = host.IndexOf(']');
            if (close > 0)
            {
                string name = host[1..close];
                return (name, close + 2 < host.Length && host[close + 1] == ':' && int.TryParse(host[(close + 2)..], out int p6) ? p6 : def);
            }
        }
        int colon = host.LastIndexOf(':');
        if (colon > 0 && int.TryParse(host[(colon + 1)..], out int port)) return (host[..colon].ToLowerInvariant(), port);
        return (host.ToLowerInvariant(), def);
    }

    // ------------------------------------------------------------------ handlers

    /// <summary>What a handler did: answered (all default), asks for an internal redirect, or for an error response.</summary>
    private readonly record struct Handled(string? Redirect = null, bool FromScript = false, int Error = 0);

    /// <summary>Runs the handler of a request that passed every phase.</summary>
    private async Task<Handled> HandleAsync(HttpContext c, RequestEngine engine, RequestRec r, Action<string> log)
    {
        var response = c.Response;
        string? handler = r.Handler ?? r.ContentType;
        if (handler == "redirect-handler" && r.RedirectTo is not null)
            return new Handled(r.RedirectTo + (r.Args is not null ? "?" + r.Args : ""));

        var kind = RequestPolicy.Classify(handler);
        if (r.ScriptAliasUrl is not null) kind = (HandlerKind.Cgi, null);
        int defaultStatus = r.ErrorStatus != 0 ? r.ErrorStatus : 200;
        var pd = r.PerDir;

        // mod_php with "php_flag engine off": the handler declines and the file is served as it is
        if (kind.Kind == HandlerKind.Php && pd.Php.Values.TryGetValue("engine", out var engineSetting) && engineSetting.Value == "0")
            kind = (HandlerKind.Static, null);

        if (r.Finfo.Kind == FileKind.Directory)
        {
            if (r.ScriptAliasUrl is not null)
            {
                log("AH01265: attempt to invoke directory as script");
                return new Handled(Error: 403);
            }
            if (pd.Options.HasFlag(Opt.Indexes) && (handler is null or "httpd/unix-directory" || kind.Kind == HandlerKind.Static))
            {
                await Autoindex.ServeAsync(c, engine, r);
                return default;
            }
            log($"AH01276: Cannot serve directory {r.Filename}: No matching DirectoryIndex ({r.Notes.Get("dir-index-names") ?? string.Join(',', pd.Dir.Index ?? ["index.html"])}) found, and server-generated directory index forbidden by Options directive");
            return new Handled(Error: 403);
        }
        if (r.Finfo.Kind == FileKind.None)
        {
            log($"AH00128: File does not exist: {r.Filename}");
            return new Handled(Error: 404);
        }
        if (r.Finfo.Kind != FileKind.Regular) return new Handled(Error: 403);

        string scriptName = r.PathInfo.Length > 0 && r.Uri.EndsWith(r.PathInfo, StringComparison.Ordinal) ? r.Uri[..^r.PathInfo.Length] : r.Uri;
        bool acceptPathInfo = pd.Core.AcceptPathInfo ?? kind.Kind != HandlerKind.Static;
        if (r.PathInfo.Length > 0 && !acceptPathInfo)
        {
            log($"AH00130: File does not exist: {r.Filename}{r.PathInfo}");
            return new Handled(Error: 404);
        }
        var script = new ScriptTarget(r.Filename!, scriptName, r.PathInfo, r.X.DocumentRoot, r.X.User, r.X.AuthType);
        var timeout = r.X.Vhost.TimeoutSeconds is int t ? TimeSpan.FromSeconds(t) : _defaultTimeout;
        ScriptHost.Outcome outcome;
        switch (kind.Kind)
        {
            case HandlerKind.Static:
                if (handler is not null && handler.Length > 0 && !handler.Contains('/') && handler is not ("default-handler" or "none"))
                    log($"[warn] AH00523: handler \"{handler}\" not found for: {r.Filename}");
                if (r.ErrorStatus != 0) response.StatusCode = r.ErrorStatus;
                await files.ServeAsync(c, r.Filename!, r.Finfo, r.ContentType, pd.Core.Etag ?? ETagBits.MTime | ETagBits.Size,
                    r.ContentEncoding, r.ContentLanguage, plain: r.ErrorStatus != 0, r.X.Start, r.VlistValidator, statOfPath: r.FinfoPath == r.Filename);
                return default;
            case HandlerKind.Cgi:
                if (r.ScriptAliasUrl is null && !pd.Options.HasFlag(Opt.ExecCGI))
                {
                    log($"AH01212: Options ExecCGI is off in this directory: {r.Filename}");
                    return new Handled(Error: 403);
                }
                outcome = await ScriptHost.CgiAsync(c, r, script, timeout, defaultStatus, Banner, log);
                break;
            case HandlerKind.Php:
                outcome = await scripts.PhpAsync(c, r, script, pd.Php.Values, timeout, defaultStatus, Banner, log);
                break;
            default:
                outcome = await scripts.ProxyAsync(kind.Target!, c, r, script, timeout, defaultStatus, Banner, log);
                break;
        }
        return outcome.LocalRedirect is { } local ? new Handled(local, FromScript: true) : default;
    }

    // ------------------------------------------------------------------ errors

    /// <summary>
    /// ap_die: the error status with its ErrorDocument, which may be a local URL (served by an
    /// internal redirect as a GET, keeping the status), a full URL (a 302 to it), or a message.
    /// Returns the request to serve next, or null when the answer is sent.
    /// </summary>
    private async Task<RequestRec?> DieAsync(HttpContext c, RequestEngine engine, RequestRec r, int status, ResponseState state)
    {
        bool recursive = r.ErrorStatus != 0;
        string? custom = null;
        if (status != 200 && r.PerDir.Core.ErrorDocuments?.TryGetValue(status, out var doc) == true && !doc.Equals("default", StringComparison.OrdinalIgnoreCase)) custom = doc;
        if (custom is not null && !recursive)
        {
            if (custom.StartsWith('/') && !custom.Contains(' '))
            {
                var (next, s) = engine.InternalRedirect(r, custom, r.Method == "HEAD" ? "HEAD" : "GET", errorStatus: status);
                if (next is not null)
                {
                    if (status is >= 300 and < 400 && r.HeadersOut.Get("Location") is { } loc) next.ErrHeadersOut.Set("Location", loc);
                    // the error document is fetched as a GET, without the request's body
                    if (c.Request.Method != "HEAD") c.Request.Method = "GET";
                    c.Request.ContentLength = 0;
                    return next;
                }
                status = s;
            }
            else if (RewriteEngine.AbsoluteUriSchemeLength(custom) > 0 && !custom.Contains(' '))
            {
                if (status == 401) custom = null; // Apache ignores a full URL for 401
                else
                {
                    r.HeadersOut.Set("Location", custom);
                    await SendErrorAsync(c, r, 302, state);
                    return null;
                }
            }
            if (custom is not null)
            {
                await SendErrorAsync(c, r, status, state, body: custom, rawBody: true);
                return null;
            }
        }
        if (recursive) r.X.Log?.Invoke("error", $"the ErrorDocument for {r.ErrorStatus} failed with {status}");
        await SendErrorAsync(c, r, recursive ? r.ErrorStatus : status, state);
        return null;
    }

    /// <summary>An error response as Apache writes one: the err_headers_out table (and Location for redirects), Apache's page.</summary>
    private async Task SendErrorAsync(HttpContext c, RequestRec? r, int status, ResponseState? state, string? body = null, bool rawBody = false)
    {
        var response = c.Response;
        if (response.HasStarted) { c.Abort(); return; }
        response.Clear();
        response.StatusCode = status;
        if (state is not null) { state.Final = r; state.ServerError = true; }
        string? location = r?.HeadersOut.Get("Location") ?? r?.ErrHeadersOut.Get("Location");
        if (r is not null)
            foreach (var (k, v) in r.ErrHeadersOut) response.Headers.Append(k, v);
        if (location is not null && (status is >= 300 and < 400 || status == 201)) response.Headers.Location = location;
        if (status == 304 || status == 204) return;
        string page = rawBody ? body! : body is not null ? WrapPage(status, body) : ErrorPages.Body(status, c.Request.Method, location, r?.Notes.Get("variant-list"));
        var bytes = Encoding.Latin1.GetBytes(page);
        response.ContentType = "text/html; charset=iso-8859-1";
        response.ContentLength = bytes.Length;
        if (status is 400 or 408 or 413 or 414 or 500 or 503) response.Headers.Connection = "close";
        if (!HttpMethods.IsHead(c.Request.Method)) await response.Body.WriteAsync(bytes);
    }

    private static string WrapPage(int status, string inner) =>
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n"
        + $"<title>{status} {ErrorPages.Reason(status)}</title>\n</head><body>\n<h1>{ErrorPages.Reason(status)}</h1>\n{inner}\n</body></html>\n";

    // ------------------------------------------------------------------ output headers

    /// <summary>
    /// Right before the headers go out: mod_expires (Expires / Cache-Control for successful
    /// responses that carry none), mod_headers (Header … for the final request's settings:
    /// "always" on every response, the default onsuccess only where a handler produced it), and
    /// AddDefaultCharset on text/plain and text/html without a charset.
    /// </summary>
    private static void FinishHeaders(HttpContext c, RequestEngine engine, ResponseState state)
    {
        var r = state.Final;
        if (r is null) return;
        var response = c.Response;
        var pd = r.PerDir;
        if (!state.ServerError)
        {
            foreach (var (k, v) in r.HeadersOut) if (!k.Equals("Location", StringComparison.OrdinalIgnoreCase) || response.Headers.Location.Count == 0) response.Headers.Append(k, v);
            foreach (var (k, v) in r.ErrHeadersOut) response.Headers.Append(k, v);
            Expires(response, r, pd);
        }
        var actions = pd.Headers.Actions;
        if (actions.Count > 0)
        {
            var table = new HeaderTable(response.Headers.Count + 4);
            foreach (var h in response.Headers)
            {
                if (h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) continue;
                foreach (var v in h.Value) table.Add(h.Key, v ?? "");
            }
            bool changed = false;
            foreach (var a in actions)
            {
                if (a.Request || (state.ServerError && a.Condition != HeaderCondition.Always)) continue;
                engine.ApplyHeader(r, a, table);
                changed = true;
            }
            if (changed)
            {
                long? length = response.ContentLength;
                foreach (var key in response.Headers.Keys.ToList())
                    if (!key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) response.Headers.Remove(key);
                foreach (var (k, v) in table) response.Headers.Append(k, v);
                response.ContentLength = length;
            }
        }
        FixupVary(response);
        if (!state.ServerError && !string.IsNullOrEmpty(pd.Core.DefaultCharset) && response.ContentType is { } ct
            && !ct.Contains("charset=", StringComparison.OrdinalIgnoreCase)
            && (ct.StartsWith("text/plain", StringComparison.OrdinalIgnoreCase) || ct.StartsWith("text/html", StringComparison.OrdinalIgnoreCase)))
            response.ContentType = ct + "; charset=" + pd.Core.DefaultCharset;
    }

    /// <summary>fixup_vary: every Vary value once (compared without case), joined by commas, as Apache sends it.</summary>
    private static void FixupVary(HttpResponse response)
    {
        var values = response.Headers.Vary;
        if (values.Count == 0) return;
        var seen = new List<string>(4);
        foreach (var v in values)
            foreach (var part in (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                if (!seen.Contains(part, StringComparer.OrdinalIgnoreCase)) seen.Add(part);
        response.Headers.Vary = string.Join(',', seen);
    }

    /// <summary>mod_expires: for a main request's successful response without Expires, ExpiresByType (or the type's "major/*") else ExpiresDefault.</summary>
    private static void Expires(HttpResponse response, RequestRec r, PerDir pd)
    {
        var e = pd.Expires;
        if (e.Active != true || response.StatusCode >= 400 || response.Headers.Expires.Count > 0) return;
        string? type = response.ContentType;
        if (type is not null)
        {
            int semi = type.IndexOf(';');
            if (semi >= 0) type = type[..semi].Trim();
        }
        ExpiresSpec? spec = null;
        if (type is not null && !e.ByType.TryGetValue(type, out spec))
        {
            int slash = type.IndexOf('/');
            if (slash > 0) e.ByType.TryGetValue(type[..slash] + "/*", out spec);
        }
        spec ??= e.Default;
        if (spec is null) return;
        var now = DateTimeOffset.FromUnixTimeSeconds((long)(r.X.Start - DateTime.UnixEpoch).TotalSeconds);
        DateTimeOffset baseTime;
        if (spec.Base == 'M')
        {
            if (r.Finfo.Kind == FileKind.None) return;
            baseTime = DateTimeOffset.FromUnixTimeSeconds(r.Finfo.MtimeSec);
        }
        else baseTime = now;
        var expires = baseTime.AddSeconds(spec.Seconds);
        long maxAge = (long)(expires - now).TotalSeconds;
        string cc = response.Headers.CacheControl.ToString();
        response.Headers.CacheControl = cc.Length > 0 ? cc + ", max-age=" + maxAge.ToString(CultureInfo.InvariantCulture) : "max-age=" + maxAge.ToString(CultureInfo.InvariantCulture);
        response.Headers.Expires = expires.ToString("R", CultureInfo.InvariantCulture);
    }
}
