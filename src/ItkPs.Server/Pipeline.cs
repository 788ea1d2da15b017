using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using ItkPs.Server.Scripts;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Mono.Unix.Native;

namespace ItkPs.Server;

/// <summary>
/// One request of a worker's vhost, in Apache's order: the URL is decoded and normalised (or
/// refused), ScriptAlias applied, the path split into a file and PATH_INFO, the sections in
/// effect merged, access checked (Require, Basic auth), then mod_dir (slash redirect,
/// DirectoryIndex) and the handler: a static file, a CGI program, PHP, or a FastCGI socket.
/// Everything runs as the worker's user, so the kernel decides what may be read or run.
/// </summary>
public sealed class Pipeline(Snapshot snapshot, StaticFiles files, ScriptHost scripts)
{
    private readonly BasicAuth _auth = new();
    private readonly TimeSpan _defaultTimeout = TimeSpan.FromSeconds(snapshot.TimeoutSeconds > 0 ? snapshot.TimeoutSeconds : 60);
    // The merged sections depend only on the vhost, the file and the URL path: remembered, since
    // a site is asked for the same few scripts again and again (bounded: cleared when full).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(VirtualHost, string, string), RequestPolicy> _policies = new();

    private RequestPolicy PolicyFor(VirtualHost vh, string file, string urlPath)
    {
        var key = (vh, file, urlPath);
        if (_policies.TryGetValue(key, out var p)) return p;
        p = RequestPolicy.For(snapshot.ServerDirectives, snapshot.ServerSections, vh, file, urlPath);
        if (_policies.Count >= 10_000) _policies.Clear();
        _policies[key] = p;
        return p;
    }

    /// <summary>Serves the request; <paramref name="log"/> writes a line to the vhost's error log.</summary>
    public async Task ServeAsync(HttpContext c, VirtualHost vh, Action<string> log)
    {
        string raw = c.Features.Get<IHttpRequestFeature>()?.RawTarget ?? c.Request.Path.Value ?? "/";
        for (int redirects = 0; ; redirects++)
        {
            string? next = await ServeOnceAsync(c, vh, raw, log);
            if (next is null) return;
            if (redirects == 10) { log($"more than 10 local redirects (last to {next})"); c.Response.StatusCode = 500; return; }
            // RFC 3875 6.2.2: the server answers the local URI instead, as a GET.
            c.Request.Method = HttpMethods.Get;
            c.Request.ContentLength = 0;
            int q = next.IndexOf('?');
            c.Request.QueryString = q < 0 ? QueryString.Empty : new QueryString(next[q..]);
            c.Request.Path = new PathString(UrlMapper.PercentDecode(q < 0 ? next : next[..q]) ?? "/");
            // what the next script sees as REQUEST_URI
            if (c.Features.Get<IHttpRequestFeature>() is { } feature) feature.RawTarget = next;
            raw = next;
        }
    }

    private async Task<string?> ServeOnceAsync(HttpContext c, VirtualHost vh, string raw, Action<string> log)
    {
        var response = c.Response;
        var url = UrlMapper.Normalize(raw);
        if (!url.Ok) { response.StatusCode = url.Status; return null; }
        string urlPath = url.FilePath!;
        string docRoot = vh.DocumentRoot ?? "/nonexistent";
        var alias = RequestPolicy.FindScriptAlias(snapshot.ServerDirectives, vh, urlPath);
        string root = alias?.Directory.TrimEnd('/') ?? docRoot;
        string rel = alias?.Rest ?? urlPath;

        // The file and what follows it (PATH_INFO), found as the vhost's user.
        var (file, infoCore, st, errno) = Resolve(root, rel);
        if (errno is not (Errno.ENOENT or Errno.ENOTDIR or 0)) { response.StatusCode = StaticFiles.StatusFor(errno); return null; }
        bool missing = errno != 0;
        bool isDir = !missing && (st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFDIR;
        // "/file.html/": the slash is PATH_INFO of the file.
        string pathInfo = url.TrailingSlash && !isDir && !missing && urlPath != "/" ? infoCore + "/" : infoCore;

        var policy = PolicyFor(vh, isDir ? file + "/" : file, urlPath);
        var access = await CheckAsync(c, policy, log);
        if (!access.Granted) return null;
        if (missing) { response.StatusCode = 404; log("file does not exist"); return null; }

        string scriptName = urlPath[..^infoCore.Length];
        if (isDir)
        {
            if (alias is not null) { response.StatusCode = 403; log("attempt to invoke a directory as a script"); return null; }
            if (pathInfo.Length > 0) { response.StatusCode = 404; return null; }
            if (!url.TrailingSlash)
            {
                // mod_dir: a directory is addressed with its trailing slash.
                response.Headers.Location = $"{c.Request.Scheme}://{c.Request.Host}{urlPath}/{c.Request.QueryString}";
                response.StatusCode = 301;
                return null;
            }
            string? index = null;
            foreach (var name in vh.DirectoryIndex)
            {
                string candidate = Path.Combine(file, name);
                if (Syscall.stat(candidate, out var ist) == 0 && (ist.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFREG) { index = candidate; st = ist; break; }
                if (Stdlib.GetLastError() == Errno.EACCES) { response.StatusCode = 403; return null; }
            }
            if (index is null) { response.StatusCode = 403; log("no DirectoryIndex file and Indexes are off"); return null; }
            file = index;
            scriptName = urlPath.TrimEnd('/') + "/" + Path.GetFileName(index);
            // <Files> sections for the index file itself (a subrequest, in Apache).
            policy = PolicyFor(vh, file, scriptName);
            access = await CheckAsync(c, policy, log);
            if (!access.Granted) return null;
        }
        else if ((st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFREG) { response.StatusCode = 403; return null; }

        // The policy was merged for this very file, so its handler is remembered with it.
        var (kind, target) = alias is not null ? (HandlerKind.Cgi, null) : policy.Handler ??= policy.HandlerFor(Path.GetFileName(file));
        if (kind == HandlerKind.Static)
        {
            // The default handler takes no PATH_INFO (Apache's AcceptPathInfo Default).
            if (pathInfo.Length > 0) { response.StatusCode = 404; return null; }
            await files.ServeAsync(c, file, st);
            return null;
        }
        var timeout = vh.TimeoutSeconds is int t ? TimeSpan.FromSeconds(t) : _defaultTimeout;
        var script = new ScriptTarget(file, scriptName, pathInfo, docRoot, access.User, access.User is null ? null : "Basic");
        switch (kind)
        {
            case HandlerKind.Cgi:
                if (alias is null && !policy.ExecCgi)
                {
                    log($"Options ExecCGI is off in this directory: {file}");
                    response.StatusCode = 403;
                    return null;
                }
                return (await ScriptHost.CgiAsync(c, vh, script, timeout, log)).LocalRedirect;
            case HandlerKind.Php:
                return (await scripts.PhpAsync(c, vh, script, timeout, log)).LocalRedirect;
            default:
                return (await scripts.ProxyAsync(target!, c, vh, script, timeout, log)).LocalRedirect;
        }
    }

    private async ValueTask<AccessDecision> CheckAsync(HttpContext c, RequestPolicy policy, Action<string> log)
    {
        var d = await _auth.CheckAsync(policy, c.Request.Headers.Authorization.Count > 0 ? c.Request.Headers.Authorization.ToString() : null);
        if (d.Granted) return d;
        c.Response.StatusCode = d.Status;
        if (d.Status == 401) c.Response.Headers.WWWAuthenticate = BasicAuth.Challenge(policy);
        log(d.Status == 500 ? $"configuration: {d.Reason}" : $"access denied: {d.Reason}");
        return d;
    }

    /// <summary>
    /// The longest existing prefix of root+rel that is a regular file or the whole path; what
    /// follows a file is PATH_INFO. errno is ENOENT when nothing is there.
    /// </summary>
    private static (string File, string PathInfo, Stat St, Errno Errno) Resolve(string root, string rel)
    {
        string full = UrlMapper.Under(root, rel);
        if (Syscall.stat(full, out var st) == 0) return (full, "", st, 0);
        var err = Stdlib.GetLastError();
        if (err != Errno.ENOTDIR) return (full, "", st, err);
        var segments = rel.Split('/', StringSplitOptions.RemoveEmptyEntries);
        string path = root;
        for (int i = 0; i < segments.Length; i++)
        {
            path = Path.Combine(path, segments[i]);
            if (Syscall.stat(path, out st) != 0) return (full, "", st, Stdlib.GetLastError());
            if ((st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFREG)
                return (path, "/" + string.Join('/', segments.Skip(i + 1)), st, 0);
        }
        return (full, "", st, Errno.ENOENT);
    }
}
