using System.Collections.Concurrent;
using System.ComponentModel;
using ItkPs.Core.Htaccess;
using ItkPs.Server.Privileged;
using Microsoft.AspNetCore.Http;

namespace ItkPs.Server.Scripts;

/// <summary>
/// Runs a worker's scripts as the worker's (the vhost's) user: CGI programs as children, PHP
/// through the worker's own php-fpm (one master per set of php_admin_value settings, started on
/// the first PHP request that needs it) or, when only php-cgi is there, php-cgi children; and the
/// php-fpm sockets a SetHandler "proxy:unix:…|fcgi://…" names.
/// </summary>
public sealed class ScriptHost(string phpProgram, int phpChildren) : IDisposable
{
    private readonly object _gate = new();
    private PhpCgiPool? _phpCgi;
    private readonly Dictionary<string, PhpFpmPool> _fpm = new(StringComparer.Ordinal);
    private DirectoryInfo? _privateDir;
    private readonly ConcurrentDictionary<string, FastCgiSocketPool> _sockets = new();

    // a worker killed before this one may have left its php-fpm running: end it now, not at the first PHP request
    private readonly bool _cleaned = CleanStaleOnce();

    private static bool CleanStaleOnce()
    {
        try { PhpCgiPool.CleanStale(); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return true;
    }

    /// <summary>True when PHP runs under php-fpm (per-request php_value); false for php-cgi, which cannot take them.</summary>
    public bool UsesFpm { get; } = Path.GetFileName(phpProgram).StartsWith("php-fpm", StringComparison.Ordinal);

    public int[] PhpPids
    {
        get
        {
            lock (_gate) return UsesFpm ? _fpm.Values.Select(p => p.Pid).ToArray() : _phpCgi?.Pids ?? [];
        }
    }

    /// <summary>The outcome for the pipeline: done, or a local redirect (RFC 3875 6.2.2) to serve instead.</summary>
    public readonly record struct Outcome(string? LocalRedirect);

    /// <summary>The pool for a set of php_admin_value settings (its own php-fpm master), started when first needed.</summary>
    private IFastCgiPool PoolFor(IReadOnlyList<KeyValuePair<string, string>> admin)
    {
        lock (_gate)
        {
            if (!UsesFpm) return _phpCgi ??= new PhpCgiPool(phpProgram, phpChildren);
            string key = string.Join('\n', admin.Select(kv => kv.Key + "=" + kv.Value));
            if (_fpm.TryGetValue(key, out var pool)) return pool;
            _privateDir ??= PhpCgiPool.PrivateDirectory();
            pool = new PhpFpmPool(phpProgram, phpChildren, admin, Path.Combine(_privateDir.FullName, $"fpm-{_fpm.Count}"));
            _fpm[key] = pool;
            return pool;
        }
    }

    /// <summary>Runs a PHP script with the php_value / php_admin_value settings in effect for it.</summary>
    public async Task<Outcome> PhpAsync(HttpContext c, RequestRec r, ScriptTarget t, IReadOnlyDictionary<string, PhpConf.Setting> settings,
        TimeSpan timeout, int defaultStatus, string software, Action<string> log)
    {
        var admin = settings.Where(kv => kv.Value.Admin && kv.Key != "engine").OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value.Value)).ToList();
        var plain = settings.Where(kv => !kv.Value.Admin && kv.Key != "engine").ToDictionary(kv => kv.Key, kv => kv.Value.Value, StringComparer.Ordinal);
        IFastCgiPool pool;
        try { pool = PoolFor(admin); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or PrivilegeException)
        {
            log($"cannot start {phpProgram}: {e.Message}");
            Log.Write(LogEvent.ScriptFailed, $"cannot start {phpProgram}: {e.Message}");
            c.Response.StatusCode = 503;
            return default;
        }
        // mod_php: Authorization as HTTP_AUTHORIZATION only with CGIPassAuth On (or a SetEnvIf / [E=]),
        // the credentials always as PHP_AUTH_USER / PHP_AUTH_PW
        var env = CgiEnvironment.Build(c, r, t, forPhp: true, passAuth: r.PerDir.Core.CgiPassAuth == true, software, phpAuth: true);
        if (pool is PhpFpmPool fpm)
        {
            if (await fpm.PhpValueAsync(plain, k =>
            {
                var s = settings[k];
                log($"{s.File}:{s.Line}: php_value {k}: PHP allows this setting only in php.ini or php_admin_value (PHP_INI_SYSTEM); ignored, as mod_php ignores it");
            }, log) is { } value)
                env.Add(new("PHP_VALUE", value));
        }
        else if (plain.Count > 0 || admin.Count > 0)
        {
            var first = settings.Values.First(s => !s.File.Equals("", StringComparison.Ordinal));
            log($"{first.File}:{first.Line}: php_value/php_admin_value need php-fpm (itkd --php-cgi names {phpProgram}, which takes no per-request settings)");
            c.Response.StatusCode = 500;
            return default;
        }
        return await FastCgiAsync(pool, c, env, timeout, defaultStatus, log);
    }

    public Task<Outcome> ProxyAsync(string socket, HttpContext c, RequestRec r, ScriptTarget t, TimeSpan timeout, int defaultStatus, string software, Action<string> log) =>
        FastCgiAsync(_sockets.GetOrAdd(socket, s => new FastCgiSocketPool(s)), c, CgiEnvironment.Build(c, r, t, forPhp: true, passAuth: r.PerDir.Core.CgiPassAuth == true, software), timeout, defaultStatus, log);

    private static async Task<Outcome> FastCgiAsync(IFastCgiPool pool, HttpContext c, List<KeyValuePair<string, string>> env, TimeSpan timeout, int defaultStatus, Action<string> log)
    {
        var aborted = c.RequestAborted;
        bool hasBody = c.Request.ContentLength > 0 || c.Request.Headers.TransferEncoding.Count > 0;
        for (int attempt = 0; ; attempt++)
        {
            FastCgiLease lease;
            try { lease = await pool.RentAsync(aborted); }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
            {
                log($"FastCGI: cannot connect: {e.Message}");
                c.Response.StatusCode = 503;
                return default;
            }
            using (lease)
            {
                try
                {
                    var stdout = await lease.Connection.SendAsync(env, hasBody ? c.Request.Body : null, line => log($"FastCGI: stderr: {line}"), aborted);
                    var (result, location) = await CgiOutput.CopyAsync(stdout, c, log, timeout, aborted, defaultStatus);
                    return Finish(c, result, location);
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
                {
                    lease.Connection.Reusable = false;
                    // a kept connection whose php-fpm child has gone: nothing was answered yet, so ask again once
                    if (lease.Reused && attempt == 0 && !hasBody && !c.Response.HasStarted && !aborted.IsCancellationRequested) continue;
                    if (!aborted.IsCancellationRequested) log($"FastCGI: {e.Message}");
                    if (!c.Response.HasStarted) c.Response.StatusCode = 502;
                    else c.Abort();
                    return default;
                }
            }
        }
    }

    private static Outcome Finish(HttpContext c, CgiOutput.Result result, string? location)
    {
        switch (result)
        {
            case CgiOutput.Result.LocalRedirect: return new Outcome(location);
            case CgiOutput.Result.BadHeader: if (!c.Response.HasStarted) c.Response.StatusCode = 500; break;
            case CgiOutput.Result.Timeout: if (!c.Response.HasStarted) c.Response.StatusCode = 504; else c.Abort(); break;
        }
        return default;
    }

    /// <summary>A CGI program: the body streamed to its stdin, its stdout streamed back, stderr to the error log.</summary>
    public static async Task<Outcome> CgiAsync(HttpContext c, RequestRec r, ScriptTarget t, TimeSpan timeout, int defaultStatus, string software, Action<string> log)
    {
        var env = CgiEnvironment.Build(c, r, t, forPhp: false, passAuth: r.PerDir.Core.CgiPassAuth == true, software);
        env.Add(new("PATH", "/usr/local/bin:/usr/bin:/bin"));
        ChildProcess p;
        try { p = ChildProcess.Start(t.ScriptFile, [], env, Path.GetDirectoryName(t.ScriptFile), ChildStream.Pipe, ChildStream.Pipe, ChildStream.Pipe); }
        catch (IOException e)
        {
            log($"exec of '{t.ScriptFile}' failed: {e.Message}");
            c.Response.StatusCode = 500;
            return default;
        }
        using (p)
        {
            var aborted = c.RequestAborted;
            var stderr = Task.Run(async () =>
            {
                using var reader = new StreamReader(p.StandardError!);
                string? line;
                while ((line = await reader.ReadLineAsync()) is not null) log($"{Path.GetFileName(t.ScriptFile)}: {line}");
            });
            var stdin = Task.Run(async () =>
            {
                try { await c.Request.Body.CopyToAsync(p.StandardInput!, aborted); }
                catch (Microsoft.AspNetCore.Http.BadHttpRequestException) { } // LimitRequestBody: the response is already decided
                catch (IOException) { } // the script stopped reading: its business
                catch (OperationCanceledException) { }
                finally { try { p.StandardInput!.Close(); } catch (IOException) { } }
            });
            bool finished = false;
            try
            {
                var (result, location) = await CgiOutput.CopyAsync(p.StandardOutput!, c, log, timeout, aborted, defaultStatus);
                finished = result is CgiOutput.Result.Sent or CgiOutput.Result.LocalRedirect;
                return Finish(c, result, location);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
                if (!c.Response.HasStarted) c.Response.StatusCode = 500; else c.Abort();
                return default;
            }
            finally
            {
                // A script that has answered may finish its own work for a moment; one that timed
                // out or whose client left is ended at once, with whatever it started.
                if (finished && !p.HasExited)
                {
                    try { await p.Exited.WaitAsync(TimeSpan.FromSeconds(5)); } catch (TimeoutException) { }
                }
                if (!p.HasExited) p.KillTree();
                await p.Exited;
                await Task.WhenAny(Task.WhenAll(stdin, stderr), Task.Delay(1000));
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _phpCgi?.Dispose();
            foreach (var p in _fpm.Values) p.Dispose();
            if (_privateDir is not null && _fpm.Count > 0)
            {
                // php-fpm removes its socket as it exits; give it a moment before the directory goes
                var until = DateTime.UtcNow.AddSeconds(2);
                while (DateTime.UtcNow < until && _fpm.Values.Any(p => p.Running)) Thread.Sleep(20);
                foreach (var p in _fpm.Values) PhpFpmPool.EndSession(p.Pid);
                try { _privateDir.Delete(true); } catch (IOException) { }
            }
        }
        foreach (var s in _sockets.Values) s.Dispose();
    }
}
