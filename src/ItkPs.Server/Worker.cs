using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ItkPs.Core.Config;
using ItkPs.Core.Unix;
using ItkPs.Server.Privileged;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ItkPs.Server;

/// <summary>
/// A worker: exec'd as root, it reads the snapshot, opens its vhosts' logs and sets NiceValue,
/// then drops to the vhost user for good before it touches a connection. It serves the
/// connections the dispatcher passes with Kestrel; a request on a reused connection for a vhost
/// of another user gets 421 Misdirected Request with Connection: close and is never served.
/// </summary>
public sealed class Worker(string snapshotPath, int channel, string user, string group, int idleTimeoutSeconds)
{
    private readonly ConcurrentDictionary<string, int> _requests = new();
    private readonly PassedConnectionListenerFactory _transport = new();
    /// <summary>How long a draining worker lets in-flight responses run (a slow download).</summary>
    public const int DrainSeconds = 120;
    private readonly Dictionary<VirtualHost, AccessLog> _logs = new();
    private readonly Dictionary<VirtualHost, ErrorLog> _errorLogs = new();
    private readonly object _channelGate = new();
    private int _active;
    private volatile bool _draining;
    private readonly ConcurrentDictionary<string, Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature> _lifetimes = new();
    private DateTime _idleSince = DateTime.UtcNow;

    public int Run()
    {
        Log.Role = $"worker {user}";
        // FastCGI replies (the user's php-cgi) continue on the socket thread too, like Kestrel's
        // connections (inline scheduling): one thread hop less per PHP request. Read by .NET
        // when the first socket is made, which is after this line.
        if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
            Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
        // --- as root: only the snapshot, the log files and the priority ---
        var snapshot = Snapshot.Load(snapshotPath);
        var account = SystemAccounts.Instance.FindUser(user) ?? throw new PrivilegeException($"user {user} does not exist");
        var grp = SystemAccounts.Instance.FindGroup(group) ?? throw new PrivilegeException($"group {group} does not exist");
        var mine = snapshot.VirtualHosts.Where(v => v.User == user && v.Group == group).ToList();
        foreach (var vh in mine.Where(v => v.CustomLog is not null))
            _logs[vh] = new AccessLog(new FileStream(vh.CustomLog!, FileMode.Append, FileAccess.Write, FileShare.ReadWrite));
        foreach (var vh in mine.Where(v => v.ErrorLog is not null))
            _errorLogs[vh] = new ErrorLog(new FileStream(vh.ErrorLog!, FileMode.Append, FileAccess.Write, FileShare.ReadWrite));
        if (mine.FirstOrDefault(v => v.Nice is not null)?.Nice is int nice) Privileges.SetNice(nice);
        Privileges.OwnProcessGroup(); // what this worker starts (php-cgi, CGI) ends with it
        Privileges.DropTo(account, grp, (snapshot.UidMin, snapshot.UidMax), (snapshot.GidMin, snapshot.GidMax));
        // --- from here on: the vhost user, for good ---
        Privileges.SetProcessName($"itkd: w {user}");
        var selector = new VhostSelector(snapshot.VirtualHosts);
        var files = new StaticFiles();
        using var scripts = new Scripts.ScriptHost(snapshot.PhpCgi, snapshot.PhpChildren);
        var pipeline = new Pipeline(snapshot, files, scripts);

        var sw = System.Diagnostics.Stopwatch.StartNew();
        // The empty builder: no configuration files to find or watch (the slim one spends
        // a quarter second on that), only Kestrel.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = "/" });
        builder.WebHost.UseKestrelCore();
        builder.Services.AddSingleton<IConnectionListenerFactory>(_transport);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(5); // Apache's KeepAliveTimeout default
            // LimitRequestLine/FieldSize/Fields/Body are the pipeline's (Apache's answers); Kestrel's own only bound the worst case
            var (line, fieldSize, fieldCount) = Pipeline.MaxLimits(snapshot);
            k.Limits.MaxRequestLineSize = line + 2;
            k.Limits.MaxRequestHeaderCount = Math.Max(1000, fieldCount * 10);
            k.Limits.MaxRequestHeadersTotalSize = (fieldCount + 1) * (fieldSize + 2) + line + 2;
            k.Limits.MaxRequestBodySize = null;
            // "GET http://b.test/x" with "Host: a.test" is for b.test (RFC 9112 3.2.2), as Apache routes it
            k.AllowHostHeaderOverride = true;
            k.Listen(new PassedEndPoint(), listen => listen.Use(next => async connection =>
            {
                Interlocked.Increment(ref _active);
                var lifetime = connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>();
                if (lifetime is not null) _lifetimes[connection.ConnectionId] = lifetime;
                try { await next(connection); }
                finally
                {
                    _lifetimes.TryRemove(connection.ConnectionId, out _);
                    _requests.TryRemove(connection.ConnectionId, out int served);
                    if (Interlocked.Decrement(ref _active) == 0) _idleSince = DateTime.UtcNow;
                    ReportClosed(connection.ConnectionId, served);
                }
            }));
        });
        var app = builder.Build();
        app.Run(async context =>
        {
            _requests.AddOrUpdate(context.Connection.Id, 1, (_, n) => n + 1);
            // Draining: this response is the connection's last.
            if (_draining) context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();
            context.Response.Headers.Server = "itkd";
            var local = context.Connection.LocalIpAddress ?? System.Net.IPAddress.Loopback;
            var vhost = selector.Select(local, context.Connection.LocalPort, context.Request.Headers.Host.ToString());
            if (vhost is null || vhost.User != user || vhost.Group != group)
            {
                // Another user's vhost on this connection: never serve it, never drop silently.
                Log.Write(LogEvent.MisdirectedRequest, $"Host '{context.Request.Headers.Host}' belongs to {vhost?.User ?? "no vhost"}; 421");
                context.Response.StatusCode = StatusCodes.Status421MisdirectedRequest;
                context.Response.Headers.Connection = "close";
                // and make Kestrel close it after this response, whatever the client asked for
                context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();
                var body = "421 Misdirected Request: this connection serves another site; open a new connection.\n"u8.ToArray();
                context.Response.ContentType = "text/plain";
                context.Response.ContentLength = body.Length;
                await context.Response.Body.WriteAsync(body);
                return;
            }
            _errorLogs.TryGetValue(vhost, out var errorLog);
            bool logged = false;
            void LogError(string message) { logged = true; errorLog?.Write("error", context, message); }
            try { await pipeline.ServeAsync(context, vhost, LogError); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (!context.Response.HasStarted) context.Response.StatusCode = 500;
                LogError(e.Message);
            }
            finally
            {
                if (_logs.TryGetValue(vhost, out var log)) log.Write(context, context.Response.ContentLength ?? 0);
                if (!logged && context.Response.StatusCode is 403 or 404)
                    errorLog?.Write("error", context, context.Response.StatusCode == 403 ? "client denied (permissions or .ht* name)" : "file does not exist");
            }
        });

        // One graceful stop for every reason (SIGTERM, idle, dispatcher gone): StopApplication lets
        // WaitForShutdown run the host's StopAsync once, which waits for in-flight requests.
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; new Thread(() => Drain(app)) { IsBackground = true }.Start(); });
        app.Start();
        Log.Write(LogEvent.WorkerStarted, $"serving {mine.Count} vhost(s) as {user}:{group} (Kestrel up in {sw.ElapsedMilliseconds} ms)");
        var reader = new Thread(() => ReadChannel(app)) { IsBackground = true, Name = "dispatcher-channel" };
        reader.Start();
        using var timer = new Timer(_ =>
        {
            foreach (var l in _logs.Values) l.Flush();
            foreach (var l in _errorLogs.Values) l.Flush();
            if (Volatile.Read(ref _active) == 0 && DateTime.UtcNow - _idleSince > TimeSpan.FromSeconds(idleTimeoutSeconds))
            {
                Log.Write(LogEvent.WorkerIdleExit, $"idle for {idleTimeoutSeconds} s; exiting");
                Mono.Unix.Native.Syscall.shutdown(channel, Mono.Unix.Native.ShutdownOption.SHUT_RDWR);
            }
        }, null, 1000, 1000);
        app.WaitForShutdown();
        // The host has stopped; let every connection finish handing its output to the kernel.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (_transport.Open > 0 && DateTime.UtcNow < deadline) Thread.Sleep(10);
        Log.Write(LogEvent.WorkerDraining, $"host stopped; open {_transport.Open}");
        foreach (var l in _logs.Values) l.Dispose();
        foreach (var l in _errorLogs.Values) l.Dispose();
        return 0;
    }

    /// <summary>Connections from the dispatcher; at end of stream, finish what is in flight and exit.</summary>
    private void ReadChannel(WebApplication app)
    {
        int received = 0;
        try
        {
            Message.ReadAll(channel, m =>
            {
                if (m.Type != MessageType.Connection || m.Fd < 0 || m.Fields.Length != 1)
                    throw new ProtocolException($"unexpected {m.Type} from the dispatcher");
                _idleSince = DateTime.UtcNow;
                received++;
                _transport.Add(new Socket(new SafeSocketHandle(m.Fd, ownsHandle: true)), m.Fields[0]);
            });
        }
        catch (Exception e) when (e is ProtocolException or IOException)
        {
            Log.Write(LogEvent.WorkerDraining, e.Message);
        }
        Log.Write(LogEvent.WorkerDraining, $"dispatcher channel closed after {received} connection(s): finishing in-flight requests");
        Drain(app);
    }

    /// <summary>
    /// A graceful end that does not lean on the host's shutdown: connections already handed
    /// over are still accepted, every connection is asked to close after its current response
    /// (idle keep-alive ones close at once), and the host stops only when none is left.
    /// </summary>
    private void Drain(WebApplication app)
    {
        if (_draining) return;
        _draining = true;
        _transport.Complete();
        _transport.Drained.Wait(TimeSpan.FromSeconds(10));
        // Open counts a connection from hand-over to disposal, so one Kestrel has dequeued but
        // not yet started is waited for too.
        var deadline = DateTime.UtcNow.AddSeconds(DrainSeconds);
        while (_transport.Open > 0 && DateTime.UtcNow < deadline)
        {
            // Only connections that have had a request: a fresh one holds a request the
            // dispatcher already saw, which must be answered, not dropped.
            foreach (var (id, l) in _lifetimes)
                if (_requests.ContainsKey(id)) l.RequestClose();
            Thread.Sleep(20);
        }
        Log.Write(LogEvent.WorkerDraining, $"connections done (active {Volatile.Read(ref _active)}, open {_transport.Open}); stopping");
        app.Lifetime.StopApplication();
    }

    private readonly ConcurrentQueue<(string Id, int Served)> _closed = new();
    private int _flushScheduled;

    /// <summary>
    /// Tells the dispatcher connections are done (it counts MaxClientsVHost by them). Reports wait
    /// up to a millisecond and go out together: under a load of short connections that is one
    /// sendmsg (and one wake-up of the dispatcher) for many connections instead of one each.
    /// </summary>
    private void ReportClosed(string connectionId, int served)
    {
        _closed.Enqueue((connectionId, served));
        if (Interlocked.Exchange(ref _flushScheduled, 1) == 0)
            _ = Task.Delay(1).ContinueWith(_ => FlushClosed(), TaskScheduler.Default);
    }

    private void FlushClosed()
    {
        Volatile.Write(ref _flushScheduled, 0);
        try
        {
            var fields = new List<string>();
            while (!_closed.IsEmpty)
            {
                fields.Clear();
                while (fields.Count < 400 && _closed.TryDequeue(out var c)) { fields.Add(c.Id); fields.Add(c.Served.ToString()); }
                if (fields.Count > 0) lock (_channelGate) Message.Of(MessageType.Closed, fields.ToArray()).Send(channel);
            }
        }
        catch (IOException) { _closed.Clear(); } // the dispatcher is gone (draining): nobody to tell
        // The flag is cleared before the queue is drained: a report queued meanwhile schedules a
        // flush of its own, so none is left behind.
    }
}
