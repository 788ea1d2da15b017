using System.Collections.Concurrent;
using System.ComponentModel;
using ItkPs.Core.Config;
using ItkPs.Server.Privileged;
using Microsoft.AspNetCore.Http;

namespace ItkPs.Server.Scripts;

/// <summary>
/// Runs a worker's scripts as the worker's (the vhost's) user: CGI programs as children, PHP
/// through the worker's php-cgi pool (started on the first PHP request), and php-fpm sockets
/// named by a SetHandler "proxy:unix:…|fcgi://…".
/// </summary>
public sealed class ScriptHost(string phpCgi, int phpChildren) : IDisposable
{
    private readonly object _gate = new();
    private PhpCgiPool? _php;
    private readonly ConcurrentDictionary<string, FastCgiSocketPool> _sockets = new();

    public int[] PhpPids { get { lock (_gate) return _php?.Pids ?? []; } }

    private PhpCgiPool Php
    {
        get
        {
            lock (_gate) return _php ??= new PhpCgiPool(phpCgi, phpChildren);
        }
    }

    /// <summary>The outcome for the pipeline: done, or a local redirect (RFC 3875 6.2.2) to serve instead.</summary>
    public readonly record struct Outcome(string? LocalRedirect);

    public Task<Outcome> PhpAsync(HttpContext c, VirtualHost vh, ScriptTarget t, TimeSpan timeout, Action<string> log)
    {
        PhpCgiPool pool;
        try { pool = Php; }
        catch (Exception e) when (e is Win32Exception or IOException or UnauthorizedAccessException)
        {
            log($"cannot start {phpCgi}: {e.Message}");
            Log.Write(LogEvent.ScriptFailed, $"cannot start {phpCgi}: {e.Message}");
            c.Response.StatusCode = 503;
            return Task.FromResult(default(Outcome));
        }
        return FastCgiAsync(pool, c, vh, t, timeout, log);
    }

    public Task<Outcome> ProxyAsync(string socket, HttpContext c, VirtualHost vh, ScriptTarget t, TimeSpan timeout, Action<string> log) =>
        FastCgiAsync(_sockets.GetOrAdd(socket, s => new FastCgiSocketPool(s)), c, vh, t, timeout, log);

    private static async Task<Outcome> FastCgiAsync(IFastCgiPool pool, HttpContext c, VirtualHost vh, ScriptTarget t, TimeSpan timeout, Action<string> log)
    {
        var aborted = c.RequestAborted;
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
                bool hasBody = c.Request.ContentLength > 0 || c.Request.Headers.TransferEncoding.Count > 0;
                var stdout = await lease.Connection.SendAsync(CgiEnvironment.Build(c, vh, t, forPhp: true), hasBody ? c.Request.Body : null,
                    line => log($"FastCGI: stderr: {line}"), aborted);
                var (result, location) = await CgiOutput.CopyAsync(stdout, c, log, timeout, aborted);
                return Finish(c, result, location);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
            {
                lease.Connection.Reusable = false;
                if (!aborted.IsCancellationRequested) log($"FastCGI: {e.Message}");
                if (!c.Response.HasStarted) c.Response.StatusCode = 502;
                else c.Abort();
                return default;
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
    public static async Task<Outcome> CgiAsync(HttpContext c, VirtualHost vh, ScriptTarget t, TimeSpan timeout, Action<string> log)
    {
        var env = CgiEnvironment.Build(c, vh, t, forPhp: false);
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
                catch (IOException) { } // the script stopped reading: its business
                catch (OperationCanceledException) { }
                finally { try { p.StandardInput!.Close(); } catch (IOException) { } }
            });
            bool finished = false;
            try
            {
                var (result, location) = await CgiOutput.CopyAsync(p.StandardOutput!, c, log, timeout, aborted);
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
        lock (_gate) _php?.Dispose();
        foreach (var s in _sockets.Values) s.Dispose();
    }
}
