using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using ItkPs.Core.Hosting;
using Mono.Unix.Native;

namespace ItkPs.Core.Htaccess;

/// <summary>What the request engine needs from the server it runs in.</summary>
public interface IEngineHost
{
    BasicAuth Auth { get; }
    MimeTypes Types { get; }
    /// <summary>The SERVER_SOFTWARE banner.</summary>
    string Software { get; }
}

/// <summary>
/// Apache's request processing up to the handler (ap_process_request_internal), for one vhost:
/// translate (vhost-level RewriteRule, Redirect, ScriptAlias, DocumentRoot), the directory walk
/// with .htaccess files merged level by level in Apache's order, regex directories, &lt;Files&gt;,
/// &lt;Location&gt;, &lt;If&gt;; SetEnvIf; access (Order/Allow/Deny, Require, Basic auth, Satisfy);
/// types (mod_mime, ForceType, SetHandler); fixups (per-directory RewriteRule, Redirect, SetEnv,
/// RequestHeader, mod_dir's slash redirect, DirectoryIndex and FallbackResource as subrequests).
/// The result is 0 (the handler may run) or the status to answer with.
/// </summary>
public sealed class RequestEngine : IRewriteHost
{
    private readonly HostLog _host;
    private readonly VhostRuntime _vh;
    private readonly HtaccessCache _htaccess;
    private readonly RewriteEngine _rewrite;
    private readonly ConcurrentDictionary<string, WalkEntry> _walks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _noticed = new(StringComparer.Ordinal);

    public RequestEngine(IEngineHost host, VhostRuntime vh, HtaccessCache htaccess)
    {
        _host = new HostLog(host); _vh = vh; _htaccess = htaccess;
        _rewrite = new RewriteEngine(this);
    }

    /// <summary>The host's services, with the ErrorLog line going to the request's own logger.</summary>
    private sealed class HostLog(IEngineHost inner)
    {
        public BasicAuth Auth => inner.Auth;
        public MimeTypes Types => inner.Types;
        public string Software => inner.Software;
        public void Log(RequestRec r, string level, string message) => r.X.Log?.Invoke(level, message);
    }

    public VhostRuntime Vhost => _vh;

    /// <summary>
    /// A remembered directory walk: the merged settings and the .htaccess versions they were made
    /// from; trusted without a stat while the watch's generation is the one it was last checked at.
    /// </summary>
    private sealed record WalkEntry(PerDir PerDir, (string Dir, HtaccessId Id)[] Files, DirectiveException? Error, int Status)
    {
        public long CheckedAt = -1;
        public bool Watched;
        /// <summary>A watch could not be added for it (an ancestor the user cannot read, the inotify limit): checked by stat only.</summary>
        public bool Unwatchable;
    }

    // ------------------------------------------------------------------ phases

    /// <summary>Runs a request (or subrequest) through every phase before the handler.</summary>
    public async ValueTask<int> ProcessAsync(RequestRec r)
    {
        if (r.IsInitial) PostRead(r);
        r.PerDir = _vh.Base;
        int s = r.FileLookup ? 0 : Translate(r);
        if (s != 0) return s;
        s = MapToStorage(r);
        if (s != 0) return s;
        LocationWalk(r);
        IfWalk(r);
        if (!r.IsSubrequest) HeaderParser(r);
        s = await AccessAsync(r);
        if (s != 0) return s;
        // mod_negotiation's type checker runs first and, when it chose a variant, mod_mime does not
        int multi = r.Finfo.Kind == FileKind.None && r.PerDir.Options.HasFlag(Opt.MultiViews) ? await MultiViewsAsync(r) : -1;
        if (multi > 0) return multi;
        if (multi < 0) TypeChecker(r);
        return await FixupsAsync(r);
    }

    /// <summary>A subrequest for a URL (mod_dir's index lookup, FallbackResource): every phase but the handler.</summary>
    public async ValueTask<(RequestRec Sub, int Status)> LookupUriAsync(string url, RequestRec parent)
    {
        string path = url, args = "";
        int q = url.IndexOf('?');
        if (q >= 0) { path = url[..q]; args = url[(q + 1)..]; }
        if (!path.StartsWith('/'))
        {
            // relative to the parent's directory
            string dir = parent.Uri.EndsWith('/') ? parent.Uri : parent.Uri[..(parent.Uri.LastIndexOf('/') + 1)];
            path = dir + path;
        }
        var norm = UrlMapper.Normalize(path);
        var sub = new RequestRec(parent.X, parent.Method, norm.Ok ? norm.Uri : path, q >= 0 ? args : null, url)
        {
            Main = parent, Env = new HeaderTable(parent.Env),
        };
        if (!norm.Ok) return (sub, norm.Status);
        int s = await ProcessAsync(sub);
        return (sub, s);
    }

    /// <summary>
    /// ap_internal_redirect: a new request for <paramref name="url"/> that inherits the exchange; its
    /// environment is the old one renamed REDIRECT_*, plus REDIRECT_STATUS; headers set with
    /// "always" (and cookies) carry over. More than ten in a row is a configuration loop (500).
    /// </summary>
    public (RequestRec? Next, int Status) InternalRedirect(RequestRec r, string url, string? method = null, int errorStatus = 0)
    {
        if (++r.X.Redirects > 10)
        {
            _host.Log(r, "error", "AH00124: Request exceeded the limit of 10 internal redirects due to probable configuration error. Use 'LimitInternalRecursion' to increase the limit if necessary.");
            return (null, 500);
        }
        int q = url.IndexOf('?');
        var norm = UrlMapper.Normalize(q < 0 ? url : url[..q]);
        if (!norm.Ok) return (null, norm.Status);
        var env = new HeaderTable(r.Env.Count + 2);
        foreach (var (k, v) in r.Env) env.Add("REDIRECT_" + k, v);
        env.Set("REDIRECT_STATUS", (errorStatus != 0 ? errorStatus : r.Status).ToString(CultureInfo.InvariantCulture));
        var next = new RequestRec(r.X, method ?? r.Method, norm.Uri, q < 0 ? null : url[(q + 1)..], url)
        {
            Prev = r, Env = env, ErrHeadersOut = r.ErrHeadersOut, ErrorStatus = errorStatus != 0 ? errorStatus : r.ErrorStatus,
        };
        if (r.HeadersOut.Get("Vary") is { } vary) next.HeadersOut.Set("Vary", vary);
        return (next, 0);
    }

    /// <summary>mod_setenvif's server-level lines, before anything else.</summary>
    private void PostRead(RequestRec r)
    {
        if (_vh.PostReadSetEnvIf.Count > 0) ApplySetEnvIf(r, _vh.PostReadSetEnvIf);
    }

    private int Translate(RequestRec r)
    {
        // mod_rewrite, vhost context (hook_uri2file)
        var rw = _vh.Rewrite;
        if (rw.Engine && rw.Rules.Count > 0 && !r.X.RewriteEnded && r.Uri.StartsWith('/'))
        {
            if (!r.IsSubrequest)
            {
                r.Env.Set("SCRIPT_URL", r.Prev is not null ? r.Env.Get("REDIRECT_SCRIPT_URL") ?? r.Uri : r.Uri);
                r.Env.Set("SCRIPT_URI", r.X.SelfUrl() + r.Env.Get("SCRIPT_URL"));
            }
            string? oargs = r.Args;
            r.Filename = r.Uri;
            var outcome = _rewrite.ApplyList(r, rw.Rules, null, out var lastSub);
            if (outcome == RewriteEngine.Outcome.Status) { int n = r.Status; r.Status = 200; return n; }
            if (outcome != RewriteEngine.Outcome.None)
            {
                string f = r.Filename!;
                int skip = RewriteEngine.AbsoluteUriSchemeLength(f);
                if (skip > 0) return RedirectFromRewrite(r, f, skip, outcome, oargs);
                if (f.StartsWith("passthrough:", StringComparison.Ordinal))
                {
                    r.Uri = f["passthrough:".Length..];
                    r.Filename = null;
                }
                else
                {
                    if (!f.StartsWith('/')) return 400;
                    bool reduced = r.Notes.Contains("mod_rewrite_uri_reduced");
                    // a path whose first segment exists in the file system is one; otherwise it is a URL-path under the DocumentRoot
                    if (reduced || !PrefixStat(f, lastSub)) r.Filename = (_vh.DocumentRoot == "/" ? "" : _vh.DocumentRoot) + f;
                    return 0;
                }
            }
            else r.Filename = null;
        }

        // mod_alias: Redirect in the vhost, then ScriptAlias
        foreach (var red in _vh.Redirects)
        {
            var found = MatchRedirect(red, r);
            if (found is null) continue;
            return FinishRedirect(r, red.Status, found);
        }
        var alias = RequestPolicy.FindScriptAlias(_vh.ServerDirectives, _vh.Vhost, r.Uri);
        if (alias is not null)
        {
            r.Filename = UrlMapper.Under(alias.Directory.TrimEnd('/'), alias.Rest);
            r.Handler = "cgi-script";
            r.ScriptAliasUrl = alias.UrlPrefix;
            return 0;
        }
        // core: the DocumentRoot
        r.Filename = (_vh.DocumentRoot == "/" ? "" : _vh.DocumentRoot) + r.Uri;
        return 0;
    }

    /// <summary>
    /// mod_rewrite's prefix_stat: whether a vhost rule's result is a file-system path (its first
    /// segment exists) rather than a URL-path under the DocumentRoot. Since Apache 2.4.60
    /// (CVE-2024-38475) a first segment that came from a back-reference or a variable counts only
    /// when the rule says [UnsafePrefixStat], when the substitution itself starts with that segment,
    /// or when the whole path is under the DocumentRoot.
    /// </summary>
    private bool PrefixStat(string path, RewriteRuleEntry? lastSub)
    {
        int slash = path.IndexOf('/', 1);
        string first = slash < 0 ? path : path[..slash];
        if (FileStat.Of(first).Kind == FileKind.None) return false;
        if (lastSub is null || lastSub.Flags.HasFlag(RuleFlags.UnsafePrefixStat)) return true;
        return lastSub.Output.StartsWith(first, StringComparison.Ordinal) || path.StartsWith(_vh.DocumentRoot, StringComparison.Ordinal);
    }

    /// <summary>The rewrite result is a URL: escape it (unless [NE]), add the query and answer with the rule's redirect status.</summary>
    private static int RedirectFromRewrite(RequestRec r, string f, int skip, RewriteEngine.Outcome outcome, string? oargs)
    {
        if (outcome != RewriteEngine.Outcome.ChangedNoEscape) f = f[..skip] + EscapeUri(f[skip..]);
        if (r.Args is not null)
        {
            bool noescape = outcome == RewriteEngine.Outcome.ChangedNoEscape || (oargs is not null && r.Args == oargs);
            f += "?" + (noescape ? r.Args : EscapeUri(r.Args));
        }
        int n = r.Status is >= 300 and < 400 ? r.Status : 302;
        r.Status = 200;
        r.HeadersOut.Set("Location", f);
        return n;
    }

    // ---------------------------------------------------------------- the walk

    /// <summary>
    /// core's map_to_storage: finds the file and PATH_INFO, and merges the &lt;Directory&gt; blocks
    /// and .htaccess files of every level from / down to the file's directory, then the regex
    /// directories and &lt;Files&gt;. The .htaccess of a level is read when the AllowOverride (or
    /// AllowOverrideList) in effect there allows anything.
    /// </summary>
    private int MapToStorage(RequestRec r)
    {
        string path = r.Filename!;
        bool trailing = path.EndsWith('/') && path.Length > 1;
        string full = trailing ? path.TrimEnd('/') : path;
        if (full.Length == 0) full = "/";

        // Where the file ends and PATH_INFO begins; the whole path exists in the common case.
        var st = FileStat.Of(full, out var errno);
        string dir;
        if (errno == 0)
        {
            r.Finfo = st; r.FinfoPath = full;
            if (st.Kind == FileKind.Directory) { dir = full == "/" ? "/" : full + "/"; r.Filename = trailing || full == "/" ? dir : full; }
            else { dir = full[..(full.LastIndexOf('/') + 1)]; r.Filename = full; if (trailing) r.PathInfo = "/" + r.PathInfo; }
        }
        else if (errno is Errno.ENOENT or Errno.ENOTDIR)
        {
            var (existingDir, file, fst, info, err) = Split(full);
            if (err is not (0 or Errno.ENOENT or Errno.ENOTDIR)) return Denied(r, err, full);
            dir = existingDir;
            r.Filename = file;
            r.Finfo = fst; r.FinfoPath = file;
            r.PathInfo = info + (trailing ? "/" : "") + r.PathInfo;
        }
        else return Denied(r, errno, full);

        int s = Walk(r, dir);
        if (s != 0) return s;

        // <Files>: the last segment of the file name
        if (r.Finfo.Kind != FileKind.Directory || !r.Filename!.EndsWith('/'))
        {
            string name = r.Filename!.TrimEnd('/');
            name = name[(name.LastIndexOf('/') + 1)..];
            if (name.Length > 0 && r.PerDir.Files.Count > 0)
            {
                var merged = r.PerDir;
                foreach (var f in r.PerDir.Files)
                    if (f.Matches(name)) merged = merged.Merge(f.Body);
                r.PerDir = merged;
            }
            // Apache's stock <Files ".ht*"> (itkd's rule whatever the configuration says)
            if (name.StartsWith(".ht", StringComparison.OrdinalIgnoreCase))
            {
                _host.Log(r, "error", $"AH01630: client denied by server configuration: {r.Filename}");
                return 403;
            }
        }
        return 0;
    }

    private int Denied(RequestRec r, Errno errno, string path)
    {
        if (errno is Errno.EACCES or Errno.EPERM)
        {
            _host.Log(r, "error", $"AH00035: access to {r.Uri} denied (filesystem path '{path}') because search permissions are missing on a component of the path");
            return 403;
        }
        if (errno == Errno.ENAMETOOLONG) return 403;
        _host.Log(r, "error", $"stat {path}: {Stdlib.strerror(errno)}");
        return 403;
    }

    /// <summary>The deepest existing directory, the file (or missing name) below it, and the rest as PATH_INFO.</summary>
    private static (string Dir, string File, FileStat St, string PathInfo, Errno Errno) Split(string full)
    {
        var segments = full.Split('/', StringSplitOptions.RemoveEmptyEntries);
        string dir = "/";
        for (int i = 0; i < segments.Length; i++)
        {
            string candidate = dir + segments[i];
            var st = FileStat.Of(candidate, out var errno);
            if (errno != 0)
            {
                string rest = i + 1 < segments.Length ? "/" + string.Join('/', segments.Skip(i + 1)) : "";
                return (dir, candidate, FileStat.Missing, rest, errno is Errno.ENOTDIR ? Errno.ENOENT : errno);
            }
            if (st.Kind != FileKind.Directory)
                return (dir, candidate, st, i + 1 < segments.Length ? "/" + string.Join('/', segments.Skip(i + 1)) : "", 0);
            dir = candidate + "/";
        }
        return (dir, dir, FileStat.Missing, "", Errno.ENOENT);
    }

    /// <summary>The directory walk proper, remembered per directory while its .htaccess files stay the same.</summary>
    private int Walk(RequestRec r, string dir)
    {
        var cached = _walks.GetValueOrDefault(dir);
        if (cached is not null && Current(cached))
        {
            if (cached.Error is not null) { _host.Log(r, cached.Status == 403 ? "crit" : "alert", cached.Error.ToString()); return cached.Status; }
            r.PerDir = cached.PerDir;
            return CheckSymlinks(r, dir);
        }

        var perDir = _vh.Base;
        var files = new List<(string, HtaccessId)>();
        var segments = dir.Split('/', StringSplitOptions.RemoveEmptyEntries);
        string cur = "/";
        for (int depth = 0; ; depth++)
        {
            foreach (var block in _vh.Directories)
            {
                if (block.Depth != depth) continue;
                if (block.Depth == 0 ? block.Block.Path.Trim('/').Length == 0 : RequestPolicy.DirectoryMatches(block.Block.Path, cur) && Matches(block, cur))
                    perDir = perDir.Merge(block.Body);
            }
            var core = perDir.Core;
            bool overrides = (core.AllowOverride ?? Overrides.None) != Overrides.None || core.AllowOverrideList is { Count: > 0 };
            if (overrides)
            {
                var ht = _htaccess.Load(cur, core.AllowOverride ?? Overrides.None, core.AllowOverrideList, core.OverrideOpts ?? Opt.Everything);
                files.Add((cur, ht.Id));
                if (ht.Error is not null)
                {
                    _walks[dir] = new WalkEntry(perDir, files.ToArray(), ht.Error, ht.Status);
                    _host.Log(r, ht.Status == 403 ? "crit" : "alert", ht.Error.ToString());
                    return ht.Status;
                }
                if (ht.Section is not null)
                {
                    perDir = perDir.Merge(ht.Section);
                    foreach (var n in ht.Section.Notices) if (_noticed.TryAdd(n, 0)) _host.Log(r, "warn", n);
                }
            }
            if (depth >= segments.Length) break;
            cur += segments[depth] + "/";
        }
        foreach (var block in _vh.RegexDirectories)
            if (PcreRegex.Match(PcreRegex.Get(block.Block.Path), dir) is not null || PcreRegex.Match(PcreRegex.Get(block.Block.Path), dir.TrimEnd('/')) is not null)
                perDir = perDir.Merge(block.Body);
        if (_walks.Count > 50_000) _walks.Clear();
        _walks[dir] = new WalkEntry(perDir, files.ToArray(), null, 0);
        r.PerDir = perDir;
        return CheckSymlinks(r, dir);
    }

    private static bool Matches(CompiledBlock block, string cur)
    {
        // DirectoryMatches takes prefixes; at this depth the section must name exactly this directory
        return VhostRuntime.Depth(block.Block.Path) == VhostRuntime.Depth(cur);
    }

    /// <summary>
    /// Whether a remembered walk still holds: at once while the watch saw nothing change since it
    /// was last checked (one read of the watch's queue for all directories); else by a stat of each of its .htaccess files, with the watches renewed
    /// first (so that a change after the stat moves the generation).
    /// </summary>
    private bool Current(WalkEntry e)
    {
        if (e.Files.Length == 0) return true;
        var watch = _htaccess.Watch;
        if (watch is null || e.Unwatchable) return Valid(e);
        long generation = watch.Poll();
        if (generation < 0) return Valid(e);
        if (e.Watched && e.CheckedAt == generation) return true;
        bool watched = watch.Ensure(e.Files.Select(f => f.Dir));
        // not trying again on every request: a watch that failed once would cost its system calls each time
        if (!watched) e.Unwatchable = true;
        if (!Valid(e)) return false;
        e.Watched = watched;
        e.CheckedAt = generation;
        return true;
    }

    private static bool Valid(WalkEntry e)
    {
        foreach (var (dir, id) in e.Files)
        {
            var now = HtaccessCache.Identify(dir, out var errno);
            if (now != id) return false;
            if (!now.Exists && errno is not (Errno.ENOENT or Errno.ENOTDIR)) return false;
        }
        return true;
    }

    /// <summary>
    /// Options FollowSymLinks / SymLinksIfOwnerMatch: where neither is on, a symbolic link in the
    /// file's path below the DocumentRoot is refused (403), as Apache's walk refuses it.
    /// </summary>
    private int CheckSymlinks(RequestRec r, string dir)
    {
        var opts = r.PerDir.Options;
        if (opts.HasFlag(Opt.FollowSymLinks)) return 0;
        string root = _vh.DocumentRoot.TrimEnd('/') + "/";
        string target = r.Finfo.Kind == FileKind.None ? dir : r.Filename!.TrimEnd('/');
        if (!target.StartsWith(root, StringComparison.Ordinal)) return 0;
        string cur = root.TrimEnd('/');
        foreach (var seg in target[root.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            cur += "/" + seg;
            if (!FileStat.IsSymlink(cur, out uint linkOwner)) continue;
            if (opts.HasFlag(Opt.SymLinksIfOwnerMatch))
            {
                var st = FileStat.Of(cur, out var err);
                if (err == 0 && st.Uid == linkOwner) continue;
            }
            _host.Log(r, "error", $"AH00037: Symbolic link not allowed or link target not accessible: {cur}");
            return 403;
        }
        return 0;
    }

    private void LocationWalk(RequestRec r)
    {
        if (_vh.Locations.Count == 0) return;
        var merged = r.PerDir;
        foreach (var l in _vh.Locations)
        {
            bool match = l.Block.IsRegex
                ? PcreRegex.Match(PcreRegex.Get(l.Block.Path), r.Uri) is not null
                : LocationMatches(l.Block.Path, r.Uri);
            if (match) merged = merged.Merge(l.Body);
        }
        r.PerDir = merged;
    }

    private static bool LocationMatches(string prefix, string uri)
    {
        if (prefix == "/" || uri == prefix) return true;
        if (prefix.EndsWith('/')) return uri.StartsWith(prefix, StringComparison.Ordinal);
        return uri.StartsWith(prefix + "/", StringComparison.Ordinal) || uri == prefix;
    }

    private void IfWalk(RequestRec r)
    {
        if (r.PerDir.Ifs.Count == 0) return;
        var chains = r.PerDir.Ifs;
        var merged = r.PerDir;
        var view = new RequestView(this, r);
        foreach (var chain in chains) merged = ApplyIf(chain, merged, view);
        r.PerDir = merged;
    }

    private static PerDir ApplyIf(IfChain chain, PerDir into, RequestView view)
    {
        foreach (var (cond, body) in chain.Branches)
        {
            if (cond is not null && !cond.Evaluate(view)) continue;
            var merged = into.Merge(new Section
            {
                Core = body.Core, Dir = body.Dir, Alias = body.Alias, Mime = body.Mime, Headers = body.Headers, Env = body.Env,
                SetEnvIf = body.SetEnvIf, Expires = body.Expires, Auth = body.Auth, Authz = body.Authz, Access = body.Access, Php = body.Php,
                Autoindex = body.Autoindex, Rewrite = body.Rewrite,
            });
            foreach (var nested in body.Ifs) merged = ApplyIf(nested, merged, view);
            return merged;
        }
        return into;
    }

    // ---------------------------------------------------------------- header parser, access

    private void HeaderParser(RequestRec r)
    {
        var entries = r.PerDir.SetEnvIf.Entries;
        if (entries.Count > 0) ApplySetEnvIf(r, entries);
        // RequestHeader … early runs before anything reads the headers
        foreach (var h in r.PerDir.Headers.Actions)
            if (h.Request && h.Early) ApplyHeader(r, h, r.X.HeadersIn);
    }

    private void ApplySetEnvIf(RequestRec r, IReadOnlyList<SetEnvIfEntry> entries)
    {
        var view = new RequestView(this, r);
        foreach (var e in entries)
        {
            List<string>? groups = null;
            if (e.Expr is not null)
            {
                groups = new List<string>();
                if (!e.Expr.Evaluate(view, groups)) continue;
            }
            else
            {
                string? value = SetEnvIfAttribute(r, e);
                if (value is null) continue;
                var m = PcreRegex.Match(e.Pattern!, value);
                if (m is null) continue;
                groups = new List<string>();
                for (int i = 0; i < m.Groups.Count && i < 10; i++) groups.Add(m.Groups[i].Success ? m.Groups[i].Value : "");
            }
            foreach (var (name, val) in e.Vars)
            {
                if (val is null) r.Env.Unset(name);
                else r.Env.Set(name, Substitute(val, groups));
            }
        }
    }

    private static string Substitute(string template, List<string> groups)
    {
        if (template.IndexOf('$') < 0) return template;
        var sb = new StringBuilder();
        for (int i = 0; i < template.Length; i++)
        {
            if (template[i] == '$' && i + 1 < template.Length && char.IsDigit(template[i + 1]))
            {
                int n = template[++i] - '0';
                if (n < groups.Count) sb.Append(groups[n]);
                continue;
            }
            if (template[i] == '\\' && i + 1 < template.Length && template[i + 1] == '$') { sb.Append('$'); i++; continue; }
            sb.Append(template[i]);
        }
        return sb.ToString();
    }

    private static string? SetEnvIfAttribute(RequestRec r, SetEnvIfEntry e)
    {
        switch (e.Attribute.ToLowerInvariant())
        {
            case "remote_host": case "remote_addr": return r.X.RemoteIp?.ToString() ?? "";
            case "server_addr": return r.X.LocalIp?.ToString() ?? "";
            case "request_method": return r.Method;
            case "request_protocol": return r.X.Protocol;
            case "request_uri": return r.Uri;
        }
        if (e.AttributeRegex is not null)
        {
            foreach (var (k, v) in r.X.HeadersIn)
                if (PcreRegex.Match(e.AttributeRegex, k) is not null) return v;
            return null;
        }
        return r.X.HeadersIn.Get(e.Attribute) ?? r.Env.Get(e.Attribute);
    }

    /// <summary>Access as ap_process_request_internal combines it: Order/Allow/Deny, Require, Basic auth, under Satisfy All or Any.</summary>
    private async ValueTask<int> AccessAsync(RequestRec r)
    {
        var pd = r.PerDir;
        var view = new RequestView(this, r);
        bool compatOk = AccessCompat.Allowed(pd.Access, view);
        var section = pd.Authz.Section;
        bool needsUser = section?.NeedsUser ?? false;
        var satisfy = pd.Access.Satisfy;
        if (!compatOk && !(satisfy == Satisfy.Any && needsUser))
        {
            _host.Log(r, "error", $"AH01797: client denied by server configuration: {r.Filename ?? r.Uri}");
            return 403;
        }
        if (compatOk && satisfy == Satisfy.Any && pd.Access.Entries.Count > 0) return 0;

        if (section is null)
        {
            if (!string.IsNullOrEmpty(pd.Auth.AuthType)) _host.Log(r, "warn", $"AH01796: AuthType {pd.Auth.AuthType} configured without corresponding module");
            return 0;
        }
        var userless = section.Evaluate(view, AuthzNode.Kind.All);
        if (userless == AuthzResult.Granted) return 0;
        if (userless == AuthzResult.Error) return 500;
        if (userless != AuthzResult.DeniedNoUser)
        {
            _host.Log(r, "error", $"AH01630: client denied by server configuration: {r.Filename ?? r.Uri}");
            return 403;
        }

        // authentication (mod_auth_basic), once per request: subrequests and redirects reuse the user
        if (r.X.User is null)
        {
            if (string.IsNullOrEmpty(pd.Auth.AuthType))
            {
                _host.Log(r, "error", $"AH01627: AuthType not set!: {r.Uri}");
                return 500;
            }
            if (!pd.Auth.AuthType.Equals("Basic", StringComparison.OrdinalIgnoreCase))
            {
                _host.Log(r, "error", $"AuthType {pd.Auth.AuthType}: itkd authenticates Basic only");
                return 500;
            }
            if (pd.Auth.UserFile is null)
            {
                _host.Log(r, "error", $"AH01618: user not found (no AuthUserFile): {r.Uri}");
                return Challenge(r, 401);
            }
            var (status, user, reason) = await _host.Auth.AuthenticateAsync(r.X.HeadersIn.Get("Authorization"), pd.Auth.UserFile);
            if (status == 500) { _host.Log(r, "error", reason); return 500; }
            if (status != 0)
            {
                if (reason != "no credentials") _host.Log(r, "error", $"AH01617: {reason}: {r.Uri}");
                return Challenge(r, 401);
            }
            r.X.User = user;
            r.X.AuthType = "Basic";
            if (pd.Auth.GroupFile is { } gf)
            {
                try { r.X.Groups = _host.Auth.GroupsOf(user!, gf); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _host.Log(r, "error", $"Could not open group file: {gf}"); return 500; }
            }
        }
        var withUser = section.Evaluate(view, AuthzNode.Kind.All);
        if (withUser == AuthzResult.Granted) return 0;
        _host.Log(r, "error", $"AH01631: user {r.X.User}: authorization failure for \"{r.Uri}\": ");
        return Challenge(r, 401);
    }

    private static int Challenge(RequestRec r, int status)
    {
        r.ErrHeadersOut.Set("WWW-Authenticate", $"Basic realm=\"{(r.PerDir.Auth.AuthName ?? "").Replace("\"", "\\\"")}\"");
        return status;
    }

    // ---------------------------------------------------------------- types and fixups

    /// <summary>
    /// mod_mime: type, charset, language, encoding and handler from every extension of the file
    /// name; the base name and the extensions that said nothing are kept for MultiViews.
    /// </summary>
    private void TypeChecker(RequestRec r)
    {
        if (r.Finfo.Kind == FileKind.Directory) { r.ContentType = "httpd/unix-directory"; return; }
        string name = r.Filename!.TrimEnd('/');
        name = name[(name.LastIndexOf('/') + 1)..];
        var mime = r.PerDir.Mime;
        var exts = mime.Extensions;
        string? type = null, charset = null, encoding = null, language = null, handler = r.Handler;
        int dot = name.IndexOf('.');
        List<string>? exceptions = null;
        bool foundMetadata = false;
        if (dot >= 0)
        {
            exceptions = [name[..dot]];
            foreach (var raw in name[(dot + 1)..].Split('.'))
            {
                if (raw.Length == 0) continue;
                bool found = false;
                if (exts.TryGetValue(raw, out var info))
                {
                    if (info.Type is not null) { type = info.Type; found = true; }
                    if (info.Charset is not null) { charset = info.Charset; found = true; }
                    if (info.Language is not null) { language = language is null ? info.Language : language + ", " + info.Language; found = true; }
                    if (info.Handler is not null && r.ScriptAliasUrl is null)
                    {
                        handler = info.Handler;
                        // a handler extension is not metadata: the file was asked for by that name
                        if (mime.Multimatch.HasFlag(MultiviewsMatch.Handlers)) found = true;
                    }
                    if (info.Encoding is not null)
                    {
                        encoding = encoding is null ? info.Encoding : encoding + ", " + info.Encoding;
                        found = true;
                    }
                    if (info.Type is null && !info.RemoveType && _host.Types.Find(raw) is { } t0) { type = t0; found = true; }
                }
                else if (_host.Types.Find(raw) is { } t) { type = t; found = true; }
                if (found || mime.Multimatch.HasFlag(MultiviewsMatch.Any)) foundMetadata = true;
                else exceptions.Add(raw.ToLowerInvariant());
            }
        }
        r.MimeExceptions = foundMetadata ? exceptions : null;
        if (type is not null && charset is not null && !type.Contains("charset=", StringComparison.OrdinalIgnoreCase)) type += "; charset=" + charset;
        r.ContentType = type;
        r.ContentEncoding = encoding;
        r.ContentLanguage = language ?? mime.DefaultLanguage;
        r.Handler = handler;
    }

    // ---------------------------------------------------------------- MultiViews (mod_negotiation)

    /// <summary>
    /// handle_multi: a request for a file that does not exist, under Options MultiViews, looks for
    /// "name.*" in its directory, runs a file subrequest for each (access, types, fixups, all as for
    /// a request of its own), keeps those whose every extension mod_mime understood, lets
    /// <see cref="Negotiation"/> choose, and becomes the chosen subrequest. Returns -1 when it does
    /// not apply (the type checker runs as usual), 0 when a variant was chosen, else the status.
    /// </summary>
    private async ValueTask<int> MultiViewsAsync(RequestRec r)
    {
        string filename = r.Filename!;
        int slash = filename.LastIndexOf('/');
        if (slash < 0 || !filename.StartsWith('/')) return -1;
        string dir = filename[..(slash + 1)], prefix = filename[(slash + 1)..];
        if (prefix.Length == 0) return -1;

        List<(string Name, bool IsDir)> entries;
        try
        {
            var options = new System.IO.EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false };
            entries = new System.IO.Enumeration.FileSystemEnumerable<(string, bool)>(dir,
                (ref System.IO.Enumeration.FileSystemEntry e) => (e.FileName.ToString(), e.IsDirectory && (e.Attributes & FileAttributes.ReparsePoint) == 0),
                options)
            {
                ShouldIncludePredicate = (ref System.IO.Enumeration.FileSystemEntry e) =>
                    e.FileName.Length > prefix.Length && e.FileName[prefix.Length] == '.' && e.FileName.StartsWith(prefix, StringComparison.Ordinal),
            }.ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _host.Log(r, "error", $"AH00686: cannot read directory for multi: {dir}");
            return 403;
        }
        if (entries.Count == 0) return -1;

        // the URL of a sibling: the request's directory (PATH_INFO taken off) and the entry's name
        string uri = r.PathInfo.Length > 0 && r.Uri.EndsWith(r.PathInfo, StringComparison.Ordinal) ? r.Uri[..^r.PathInfo.Length] : r.Uri;
        string udir = uri[..(uri.LastIndexOf('/') + 1)];
        bool anyMatch = false;
        var variants = new List<Negotiation.Variant>();
        var segments = prefix.Split('.');
        foreach (var (name, isDir) in entries)
        {
            if (isDir) continue;
            anyMatch = true;
            var sub = new RequestRec(r.X, r.Method, udir + name + r.PathInfo, null, r.UnparsedUri)
            {
                Main = r, Env = new HeaderTable(r.Env), FileLookup = true, Filename = dir + name + r.PathInfo,
            };
            int status = await ProcessAsync(sub);
            if (sub.Finfo.Kind != FileKind.Regular) continue;
            if (sub.Handler is not null && sub.ContentType is null) sub.ContentType = Negotiation.CgiMagicType;
            var exceptions = sub.MimeExceptions;
            if (exceptions is null) continue;
            // every extension mod_mime did not understand must be part of the name asked for, in order
            int k = 0;
            foreach (var seg in segments)
            {
                if (k >= exceptions.Count) break;
                if (string.Equals(seg, exceptions[k], StringComparison.Ordinal)) k++;
            }
            if (k < exceptions.Count) continue;
            if (status != 0 || sub.ContentType is null) continue;
            int pos = 0;
            var ct = Negotiation.ParseItem(sub.ContentType, ref pos);
            variants.Add(new Negotiation.Variant
            {
                FileName = name, MimeType = ct.Name, SourceQuality = ct.Quality, Level = ct.Level, Charset = ct.Charset,
                Languages = sub.ContentLanguage is { } langs ? langs.Split(", ").Select(l => l.ToLowerInvariant()).ToArray() : [],
                Encoding = sub.ContentEncoding, Bytes = sub.Finfo.Size, HasHandler = sub.Handler is not null, Tag = sub,
            });
        }
        if (variants.Count == 0)
        {
            if (!anyMatch) return -1;
            _host.Log(r, "error", $"AH00687: Negotiation: discovered file(s) matching request: {filename} (None could be negotiated).");
            return 404;
        }
        variants.Sort((a, b) => a.SourceQuality != b.SourceQuality ? b.SourceQuality.CompareTo(a.SourceQuality) : string.CompareOrdinal(a.FileName, b.FileName));

        var h = r.X.HeadersIn;
        bool get = r.Method is "GET" or "HEAD";
        var mime = r.PerDir.Mime;
        var result = Negotiation.Negotiate(new Negotiation.Request
        {
            Accept = h.Get("Accept"), AcceptLanguage = h.Get("Accept-Language"), AcceptCharset = h.Get("Accept-Charset"),
            AcceptEncoding = h.Get("Accept-Encoding"), Negotiate = h.Get("Negotiate"), UserAgent = h.Get("User-Agent"),
            Transparent = get && r.PathInfo.Length == 0, PreferScripts = !get || r.Args is not null || r.PathInfo.Length > 0,
            LanguagePriority = mime.LanguagePriority ?? [], Force = mime.ForceLanguage,
            PreferLanguage = r.Env.Get("prefer-language"), NoGzip = r.Env.Contains("no-gzip"), GzipOnlyHtml = r.Env.Get("gzip-only-text/html") == "1",
        }, variants);

        var chosen = (RequestRec?)result.Best?.Tag;
        if (chosen is not null && chosen.ErrHeadersOut.Get("Vary") is { } subVary)
        {
            // the variant negotiates too: its Vary becomes Variant-Vary and the response's Vary
            r.ErrHeadersOut.Set("Variant-Vary", subVary);
            r.ErrHeadersOut.Set("Vary", subVary);
            chosen.ErrHeadersOut.Unset("Vary");
        }
        foreach (var (k2, v) in result.Headers)
        {
            if (k2 is "Vary" or "Alternates") r.ErrHeadersOut.Merge(k2, v);
            else r.ErrHeadersOut.Set(k2, v);
        }
        if (result.Status != 0)
        {
            if (result.VariantList is not null) (r.Main ?? r).Notes.Set("variant-list", result.VariantList);
            if (result.Status == 406) _host.Log(r, "error", $"AH00690: no acceptable variant: {filename}");
            return result.Status;
        }

        // the variant list validator: an ETag of the directory the variants were read from
        var dst = FileStat.Of(dir.Length > 1 ? dir.TrimEnd('/') : dir);
        long mtimeUs = dst.MtimeSec * 1_000_000 + dst.MtimeNsec / 1000;
        long nowUs = (r.X.Start - DateTime.UnixEpoch).Ticks / 10;
        r.VlistValidator = (nowUs - mtimeUs > 1_000_000 ? "" : "W/") + "\"" + mtimeUs.ToString("x", CultureInfo.InvariantCulture) + "\"";

        chosen!.Args ??= r.Args;
        string? vlv = r.VlistValidator;
        FastRedirect(chosen, r);
        r.VlistValidator = vlv;
        return 0;
    }

    private async ValueTask<int> FixupsAsync(RequestRec r)
    {
        var pd = r.PerDir;
        // core_override_type: ForceType and SetHandler ("none" leaves mod_mime's choice)
        if (pd.Core.ForceType is { } ft && ft != "none") r.ContentType = ft;
        if (pd.Core.Handler is { } h && h != "none" && r.ScriptAliasUrl is null) r.Handler = h;

        int s = RewritePerDir(r);
        if (s != 0) return s;

        // mod_alias' per-directory Redirect
        foreach (var red in pd.Alias.Redirects)
        {
            var found = MatchRedirect(red, r);
            if (found is null) continue;
            return FinishRedirect(r, red.Status, found);
        }

        // mod_env
        foreach (var (k, v) in pd.Env.Vars)
        {
            if (v is null) r.Env.Unset(k); else r.Env.Set(k, v);
        }
        // mod_headers: RequestHeader (not early)
        foreach (var a in pd.Headers.Actions)
            if (a.Request && !a.Early) ApplyHeader(r, a, r.X.HeadersIn);

        // mod_dir
        if (r.Finfo.Kind == FileKind.Directory)
        {
            s = await FixupDirAsync(r);
            if (s != 0) return s;
        }
        else if (r.Finfo.Kind == FileKind.None && r.Handler is null)
        {
            s = await FixupFallbackAsync(r);
            if (s != 0) return s;
        }

        // mod_negotiation's fix_encoding: the Content-Encoding in the spelling the client accepts (gzip or x-gzip)
        if (r.ContentEncoding is not null && r.X.HeadersIn.Get("Accept-Encoding") is { } ae) r.ContentEncoding = Negotiation.FixEncoding(r.ContentEncoding, ae);

        // mod_rewrite [T=] / [H=]
        if (r.ForcedType is { } t) r.ContentType = t;
        if (r.ForcedHandler is { } fh) r.Handler = fh;
        return 0;
    }

    /// <summary>mod_rewrite's hook_fixup: per-directory rules.</summary>
    private int RewritePerDir(RequestRec r)
    {
        var conf = r.PerDir.Rewrite;
        if (conf.Engine != true || conf.Directory is null) return 0;
        var options = conf.Options ?? RewriteOpt.None;
        if (!options.HasFlag(RewriteOpt.AllowNoSlash))
        {
            int l = conf.Directory.Length - 1;
            if (r.Filename is not null && r.Filename.Length == l && conf.Directory[l] == '/' && string.CompareOrdinal(r.Filename, 0, conf.Directory, 0, l) == 0)
                return 0;
        }
        if (r.X.RewriteEnded) return 0;
        if ((r.PerDir.Options & (Opt.FollowSymLinks | Opt.SymLinksIfOwnerMatch)) == 0)
        {
            _host.Log(r, "error", $"AH00670: Options FollowSymLinks and SymLinksIfOwnerMatch are both off, so the RewriteRule directive is also forbidden due to its similar ability to circumvent directory restrictions : {r.Filename}");
            return 403;
        }
        string? ofilename = r.Filename, oargs = r.Args;
        var outcome = _rewrite.ApplyList(r, conf.Rules, conf.Directory);
        if (outcome == RewriteEngine.Outcome.None) { r.Filename = ofilename; return 0; }
        if (outcome == RewriteEngine.Outcome.Status) { int n = r.Status; r.Status = 200; return n; }

        string f = r.Filename!;
        int skip = RewriteEngine.AbsoluteUriSchemeLength(f);
        if (skip > 0)
        {
            if (conf.BaseUrl is not null)
            {
                int slash = f.IndexOf('/', skip);
                if (slash >= 0 && slash + 1 < f.Length)
                {
                    string rest = f[(slash + 1)..];
                    string replaced = SubstPrefixPath(rest, conf.Directory.StartsWith('/') ? conf.Directory[1..] : conf.Directory, conf.BaseUrl[1..]);
                    if (replaced != rest) f = f[..(slash + 1)] + replaced;
                }
            }
            return RedirectFromRewrite(r, f, skip, outcome, oargs);
        }
        if (f.StartsWith("passthrough:", StringComparison.Ordinal)) f = f["passthrough:".Length..];
        if (!f.StartsWith('/')) return 400;
        if (ofilename is not null && f == ofilename) { r.Filename = f; return 0; } // the same file: no redirect loop
        string before = f;
        if (conf.BaseUrl is not null) f = SubstPrefixPath(f, conf.Directory, conf.BaseUrl);
        else
        {
            string root = _vh.DocumentRoot.TrimEnd('/');
            if (f.StartsWith(root, StringComparison.Ordinal) && f.Length > root.Length && f[root.Length] == '/') f = f[root.Length..];
        }
        _ = before;
        r.Filename = "redirect:" + f;
        r.RedirectTo = f;
        r.Handler = "redirect-handler";
        return 0;
    }

    /// <summary>subst_prefix_path: replaces a leading directory with the RewriteBase.</summary>
    private static string SubstPrefixPath(string input, string match, string subst)
    {
        int len = match.Length;
        if (len > 0 && match[len - 1] == '/') len--;
        if (input.Length > len && string.CompareOrdinal(input, 0, match, 0, len) == 0 && input[len] == '/')
        {
            string s = subst.EndsWith('/') || subst.Length == 0 ? subst : subst + "/";
            return s + input[(len + 1)..];
        }
        return input;
    }

    /// <summary>mod_dir on a directory: the slash redirect, then DirectoryIndex as subrequests.</summary>
    private async ValueTask<int> FixupDirAsync(RequestRec r)
    {
        r.Handler ??= "httpd/unix-directory";
        if (r.PathInfo.Length > 0) return 0;
        var d = r.PerDir.Dir;
        if (r.Uri.Length == 0 || !r.Uri.EndsWith('/'))
        {
            if (d.Slash == false) return 0;
            if (r.Method != "GET" && r.Env.Contains("redirect-carefully")) return 0;
            string target = EscapeUri(r.Uri) + "/" + (r.Args is not null ? "?" + r.Args : "");
            r.HeadersOut.Set("Location", r.X.SelfUrl() + target);
            return 301;
        }
        if (r.Handler == "redirect-handler" && d.Index is not null && d.Index.Count == 0) return 0;
        var names = d.Index ?? ["index.html"];
        int errorNotFound = 0;
        for (int i = 0; i < names.Count; i++)
        {
            string name = names[i] + (r.Args is not null ? "?" + r.Args : "");
            var (rr, status) = await LookupUriAsync(name, r);
            if (status == 0 && (rr.Finfo.Kind == FileKind.Regular || rr.Handler == "redirect-handler" && rr.Finfo.Kind == FileKind.Regular))
            {
                if (d.IndexRedirect is int red and > 0)
                {
                    r.HeadersOut.Set("Location", r.X.SelfUrl() + EscapeUri(rr.Uri));
                    return red;
                }
                FastRedirect(rr, r);
                return 0;
            }
            if (status is >= 300 and < 400 || (status is 406 or 401 && names.Count == 1))
            {
                r.HeadersOut.Overlay(rr.HeadersOut);
                r.ErrHeadersOut.Overlay(rr.ErrHeadersOut);
                return status;
            }
            if (status != 0 && status != 404) errorNotFound = status;
            else if (status == 0 && rr.Finfo.Kind != FileKind.Regular && rr.Finfo.Kind != FileKind.None) { }
        }
        if (errorNotFound != 0) return errorNotFound;
        r.Notes.Set("dir-index-names", string.Join(',', names));
        return 0;
    }

    /// <summary>FallbackResource for a request that found no file and no handler.</summary>
    private async ValueTask<int> FixupFallbackAsync(RequestRec r)
    {
        string? fallback = r.PerDir.Dir.Fallback;
        if (fallback is null || fallback.Equals("disabled", StringComparison.OrdinalIgnoreCase)) return 0;
        var (rr, status) = await LookupUriAsync(fallback + (r.Args is not null ? "?" + r.Args : ""), r);
        if (status == 0 && rr.Finfo.Kind == FileKind.Regular)
        {
            FastRedirect(rr, r);
            return 0;
        }
        if (status is >= 300 and < 400)
        {
            r.HeadersOut.Overlay(rr.HeadersOut);
            r.ErrHeadersOut.Overlay(rr.ErrHeadersOut);
            return status;
        }
        if (status != 0 && status != 404) return status;
        return 0;
    }

    /// <summary>ap_internal_fast_redirect: the request becomes its subrequest (same response, its file and settings).</summary>
    private static void FastRedirect(RequestRec rr, RequestRec r)
    {
        r.Filename = rr.Filename; r.Uri = rr.Uri; r.Args = rr.Args; r.PathInfo = rr.PathInfo; r.Finfo = rr.Finfo; r.FinfoPath = rr.FinfoPath;
        r.PerDir = rr.PerDir; r.Handler = rr.Handler; r.ContentType = rr.ContentType; r.ContentEncoding = rr.ContentEncoding;
        r.ContentLanguage = rr.ContentLanguage; r.RedirectTo = rr.RedirectTo; r.ScriptAliasUrl = rr.ScriptAliasUrl;
        r.ForcedType = rr.ForcedType; r.ForcedHandler = rr.ForcedHandler;
        var env = new HeaderTable(rr.Env);
        foreach (var (k, v) in r.Env) if (!env.Contains(k)) env.Add(k, v);
        r.Env = env;
        r.HeadersOut.Overlay(rr.HeadersOut);
        r.ErrHeadersOut.Overlay(rr.ErrHeadersOut);
        r.Notes.Overlay(rr.Notes);
    }

    // ---------------------------------------------------------------- redirects (mod_alias)

    /// <summary>try_alias_list for a redirect: the target with the rest of the path (Redirect) or $N filled in (RedirectMatch).</summary>
    private static string? MatchRedirect(RedirectEntry e, RequestRec r)
    {
        if (e.Pattern is not null)
        {
            var m = PcreRegex.Match(e.Pattern, r.Uri);
            if (m is null) return null;
            if (e.Target is null) return "";
            var groups = new List<string>();
            for (int i = 0; i < m.Groups.Count && i < 10; i++) groups.Add(m.Groups[i].Success ? m.Groups[i].Value : "");
            string found = Substitute(e.Target, groups);
            // escape the path, not the query or fragment
            int q = found.IndexOfAny(['?', '#']);
            return q < 0 ? EscapeUri(found) : EscapeUri(found[..q]) + found[q..];
        }
        if (e.Prefix is null) return e.Target ?? "";
        int l = AliasMatches(r.Uri, e.Prefix);
        if (l <= 0) return null;
        return (e.Target ?? "") + EscapeUri(r.Uri[l..]);
    }

    /// <summary>alias_matches: the length of the URI the prefix covers (runs of '/' count as one), 0 when it does not.</summary>
    private static int AliasMatches(string uri, string fake)
    {
        int a = 0, u = 0;
        while (a < fake.Length)
        {
            if (fake[a] == '/')
            {
                if (u >= uri.Length || uri[u] != '/') return 0;
                while (a < fake.Length && fake[a] == '/') a++;
                while (u < uri.Length && uri[u] == '/') u++;
            }
            else
            {
                if (u >= uri.Length || uri[u] != fake[a]) return 0;
                a++; u++;
            }
        }
        if (fake[^1] != '/' && u < uri.Length && uri[u] != '/') return 0;
        return u;
    }

    private static int FinishRedirect(RequestRec r, int status, string target)
    {
        if (status is >= 300 and < 400)
        {
            if (target.StartsWith('/')) target = r.X.SelfUrl() + target;
            if (RewriteEngine.AbsoluteUriSchemeLength(target) == 0 && !target.Contains(':'))
                return 500;
            if (r.Args is not null && !target.Contains('?')) target += "?" + r.Args;
            r.HeadersOut.Set("Location", target);
        }
        return status;
    }

    // ---------------------------------------------------------------- headers (mod_headers)

    /// <summary>One Header / RequestHeader action on a table.</summary>
    public void ApplyHeader(RequestRec r, HeaderAction a, HeaderTable t)
    {
        if (a.EnvCondition is { } env)
        {
            bool neg = env.StartsWith('!');
            bool set = r.Env.Contains(neg ? env[1..] : env);
            if (set == neg) return;
        }
        var view = new RequestView(this, r);
        if (a.ExprCondition is not null && !a.ExprCondition.Evaluate(view)) return;
        string Value() => a.Value!.Render(n => r.Env.Get(n), view, r.X.Start);
        switch (a.Action)
        {
            case "set": t.Set(a.Name, Value()); break;
            case "setifempty": if (string.IsNullOrEmpty(t.Get(a.Name))) t.Set(a.Name, Value()); break;
            case "append": t.Merge(a.Name, Value()); break;
            case "add": t.Add(a.Name, Value()); break;
            case "merge":
                {
                    string v = Value();
                    string? cur = t.Get(a.Name);
                    if (cur is null) t.Set(a.Name, v);
                    else if (!cur.Split(',').Select(x => x.Trim()).Contains(v)) t.Merge(a.Name, v);
                    break;
                }
            case "unset": t.Unset(a.Name); break;
            case "note": if (t.Get(a.Name) is { } nv) r.Notes.Set(Value(), nv); break;
            case "echo":
                {
                    var rx = PcreRegex.Get(a.Name);
                    foreach (var (k, v) in r.X.HeadersIn)
                        if (PcreRegex.Match(rx, k) is not null) t.Add(k, v);
                    break;
                }
            case "edit":
            case "edit*":
                {
                    var rx = PcreRegex.Get(a.Value!.Source);
                    var values = t.GetAll(a.Name).ToList();
                    if (values.Count == 0) break;
                    t.Unset(a.Name);
                    foreach (var v in values)
                    {
                        string nv2 = a.Action == "edit" ? rx.Replace(v, ToNetReplacement(a.Replacement!), 1) : rx.Replace(v, ToNetReplacement(a.Replacement!));
                        t.Add(a.Name, nv2);
                    }
                    break;
                }
        }
    }

    /// <summary>Apache's $1 in a replacement; .NET reads "$1" the same and needs "$$" for a literal dollar.</summary>
    private static string ToNetReplacement(string s) => s.Replace("$$", "\u0000").Replace("\u0000", "$$");

    // ---------------------------------------------------------------- helpers

    /// <summary>ap_escape_uri (ap_os_escape_path with partial=1): the characters a URL path may not carry raw.</summary>
    public static string EscapeUri(string s)
    {
        var sb = new StringBuilder(s.Length + 8);
        foreach (byte b in Encoding.UTF8.GetBytes(s))
        {
            char c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || "$-_.+!*'(),:@&=/~".Contains(c)) sb.Append(c);
            else sb.Append('%').Append(b.ToString("x2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    public void Log(RequestRec r, string message) => _host.Log(r, "error", message);

    // ---------------------------------------------------------------- IRewriteHost

    string IRewriteHost.Variable(RequestRec r, string name) => RewriteVariable(r, name);
    int IRewriteHost.LookupStatus(RequestRec r, string target, bool isFile)
    {
        // a lookup from inside a rule (-U / -F): a full subrequest, run to its end here
        if (isFile) return FileStat.Of(target).Kind == FileKind.None ? 404 : 200;
        var (_, status) = LookupUriAsync(target, r).AsTask().GetAwaiter().GetResult();
        return status == 0 ? 200 : status;
    }
    IExprContext IRewriteHost.ExprContext(RequestRec r) => new RequestView(this, r);
    void IRewriteHost.Log(RequestRec r, string message) => _host.Log(r, "error", message);

    /// <summary>mod_rewrite's lookup_variable.</summary>
    public string RewriteVariable(RequestRec r, string var)
    {
        if (var.Length < 4) return "";
        if (var.Length > 4 && var[3] == ':')
        {
            var prefix = var.AsSpan(0, 3);
            if (prefix.Equals("ENV", StringComparison.OrdinalIgnoreCase)) { string name = var[4..]; return r.Notes.Get(name) ?? r.Env.Get(name) ?? Environment.GetEnvironmentVariable(name) ?? ""; }
            if (prefix.Equals("SSL", StringComparison.OrdinalIgnoreCase)) return "";
        }
        else if (var.Length > 5 && var[4] == ':')
        {
            var prefix = var.AsSpan(0, 4);
            if (prefix.Equals("HTTP", StringComparison.OrdinalIgnoreCase)) return r.X.HeadersIn.Get(var[5..]) ?? "";
            if (prefix.Equals("LA-U", StringComparison.OrdinalIgnoreCase) || prefix.Equals("LA-F", StringComparison.OrdinalIgnoreCase)) return ""; // look-ahead subrequests are not carried out
        }
        return CommonVariable(r, var.ToUpperInvariant(), rewrite: true) ?? "";
    }

    /// <summary>The variables mod_rewrite and ap_expr share (a few differ: ap_expr's HTTPS is "on"/"off" too).</summary>
    internal string? CommonVariable(RequestRec r, string v, bool rewrite)
    {
        var x = r.X;
        switch (v)
        {
            case "HTTP_HOST": return x.HeadersIn.Get("Host");
            case "HTTP_USER_AGENT": return x.HeadersIn.Get("User-Agent");
            case "HTTP_REFERER": return x.HeadersIn.Get("Referer");
            case "HTTP_COOKIE": return x.HeadersIn.Get("Cookie");
            case "HTTP_FORWARDED": return x.HeadersIn.Get("Forwarded");
            case "HTTP_ACCEPT": return x.HeadersIn.Get("Accept");
            case "HTTP_PROXY_CONNECTION": return x.HeadersIn.Get("Proxy-Connection");
            case "HTTPS": return x.IsHttps ? "on" : "off";
            case "IPV6": return x.RemoteIp is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } ip && !ip.IsIPv4MappedToIPv6 ? "on" : "off";
            case "IS_SUBREQ": return r.IsSubrequest ? "true" : "false";
            case "PATH_INFO": return r.PathInfo;
            case "AUTH_TYPE": return x.AuthType;
            case "SERVER_NAME": return x.ServerName;
            case "REMOTE_ADDR": case "REMOTE_HOST": return x.RemoteIp?.ToString();
            case "CONN_REMOTE_ADDR": return x.RemoteIp?.ToString();
            case "SERVER_ADDR": return x.LocalIp?.ToString();
            case "THE_REQUEST": return x.TheRequest;
            case "API_VERSION": return "20120211:137";
            case "REMOTE_PORT": return x.RemotePort.ToString(CultureInfo.InvariantCulture);
            case "REMOTE_USER": return x.User;
            case "REMOTE_IDENT": return "";
            case "SCRIPT_USER": return r.Finfo.Kind != FileKind.None ? UserName(r.Finfo.Uid) : "<unknown>";
            case "SCRIPT_GROUP": return "<unknown>";
            case "REQUEST_URI": return r.Uri;
            case "DOCUMENT_URI": return r.Uri;
            case "QUERY_STRING": return r.Args;
            case "SERVER_ADMIN": return "[no address given]";
            case "DOCUMENT_ROOT": case "CONTEXT_DOCUMENT_ROOT": return _vh.DocumentRoot;
            case "CONTEXT_PREFIX": return "";
            case "REQUEST_METHOD": return r.Method;
            case "REQUEST_SCHEME": return x.Scheme;
            case "REQUEST_FILENAME": case "SCRIPT_FILENAME": return r.Filename;
            case "SERVER_PROTOCOL": return x.Protocol;
            case "SERVER_SOFTWARE": return _host.Software;
            case "SERVER_PORT": return x.HostPort.ToString(CultureInfo.InvariantCulture);
            case "TIME": return DateTime.Now.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
            case "TIME_YEAR": return DateTime.Now.Year.ToString("D4", CultureInfo.InvariantCulture);
            case "TIME_MON": return DateTime.Now.Month.ToString("D2", CultureInfo.InvariantCulture);
            case "TIME_DAY": return DateTime.Now.Day.ToString("D2", CultureInfo.InvariantCulture);
            case "TIME_HOUR": return DateTime.Now.Hour.ToString("D2", CultureInfo.InvariantCulture);
            case "TIME_MIN": return DateTime.Now.Minute.ToString("D2", CultureInfo.InvariantCulture);
            case "TIME_SEC": return DateTime.Now.Second.ToString("D2", CultureInfo.InvariantCulture);
            case "TIME_WDAY": return ((int)DateTime.Now.DayOfWeek).ToString(CultureInfo.InvariantCulture);
        }
        if (!rewrite)
        {
            switch (v)
            {
                case "CONTENT_TYPE": return r.ContentType;
                case "HANDLER": return r.Handler;
                case "REQUEST_STATUS": return r.Status.ToString(CultureInfo.InvariantCulture);
                case "HTTP2": return "off";
                case "LAST_MODIFIED": return r.Finfo.Kind == FileKind.None ? "" : DateTimeOffset.FromUnixTimeSeconds(r.Finfo.MtimeSec).ToLocalTime().ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
            }
            if (v.StartsWith("HTTP_", StringComparison.Ordinal)) return x.HeadersIn.Get(v[5..].Replace('_', '-'));
        }
        return null;
    }

    private static string UserName(uint uid)
    {
        try { return new Mono.Unix.UnixUserInfo(uid).UserName; }
        catch (ArgumentException) { return uid.ToString(CultureInfo.InvariantCulture); }
    }

    /// <summary>The request as ap_expr and the authorization providers see it.</summary>
    public sealed class RequestView(RequestEngine engine, RequestRec r) : IExprContext, IAuthzRequest
    {
        public string Method => r.Method == "HEAD" ? "GET" : r.Method;
        public string? User => r.X.User;
        public IPAddress? RemoteIp => r.X.RemoteIp;
        public IPAddress? LocalIp => r.X.LocalIp;
        public IReadOnlyCollection<string> Groups => r.X.Groups;
        public IExprContext ExprContext => this;
        public string? Env(string name) => r.Env.Get(name);

        public string Variable(string name) => engine.CommonVariable(r, name.ToUpperInvariant(), rewrite: false) ?? "";

        public string? Function(string name, string arg)
        {
            switch (name)
            {
                case "req": case "http": case "req_novary": return r.X.HeadersIn.Get(arg) ?? "";
                case "resp": return r.HeadersOut.Get(arg) ?? "";
                case "reqenv": return r.Env.Get(arg) ?? "";
                case "osenv": return System.Environment.GetEnvironmentVariable(arg) ?? "";
                case "note": return r.Notes.Get(arg) ?? "";
                case "env": return r.Notes.Get(arg) ?? r.Env.Get(arg) ?? System.Environment.GetEnvironmentVariable(arg) ?? "";
                case "tolower": return arg.ToLowerInvariant();
                case "toupper": return arg.ToUpperInvariant();
                case "escape": return EscapeUri(arg);
                case "unescape": return UrlMapper.PercentDecode(arg) ?? arg;
                case "base64": return Convert.ToBase64String(Encoding.UTF8.GetBytes(arg));
                case "unbase64":
                    try { return Encoding.UTF8.GetString(Convert.FromBase64String(arg)); }
                    catch (FormatException) { return ""; }
                case "md5": return Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(arg)));
                case "sha1": return Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(arg)));
                case "filesize": { var st = FileStat.Of(arg); return st.Kind == FileKind.Regular ? st.Size.ToString(CultureInfo.InvariantCulture) : "0"; }
                case "filemod": { var st = FileStat.Of(arg); return st.Kind == FileKind.None ? "0" : st.MtimeSec.ToString(CultureInfo.InvariantCulture); }
                case "file":
                    try { return File.ReadAllText(arg); }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
            }
            return null;
        }

        public bool FileTest(char op, string path)
        {
            switch (op)
            {
                case 'd': return r.StatOf(path).Kind == FileKind.Directory;
                case 'e': return r.StatOf(path).Kind != FileKind.None;
                case 'f': return r.StatOf(path).Kind == FileKind.Regular;
                case 's': { var st = r.StatOf(path); return st.Kind == FileKind.Regular && st.Size > 0; }
                case 'L': case 'h': return FileStat.IsSymlink(path, out _);
                case 'x': { var st = r.StatOf(path); return st.Kind != FileKind.None && (st.Mode & 0b001_001_001) != 0; }
                case 'U': case 'A':
                    {
                        var (_, status) = engine.LookupUriAsync(path, r).AsTask().GetAwaiter().GetResult();
                        return status == 0;
                    }
                case 'F':
                    {
                        var st = FileStat.Of(path);
                        return st.Kind != FileKind.None;
                    }
            }
            return false;
        }
    }
}
