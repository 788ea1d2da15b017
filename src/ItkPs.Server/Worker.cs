using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ItkPs.Core.Config;
using ItkPs.Server.Privileged;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ItkPs.Server;

/// <summary>
/// A worker: exec'd as root by the master with exactly its snapshot (descriptor 3), its channel to
/// the dispatcher (4) and the logs the master opened for its vhosts (5…). It sets NiceValue and
/// drops to the pool's user for good before it touches a connection; logs the master would not
/// open as root it opens afterwards, as the user. It serves the connections the dispatcher passes
/// with Kestrel; a request on a reused connection for a vhost of another user gets 421 Misdirected
/// Request with Connection: close and is never served (on HTTP/2, 421 for that stream only: the
/// connection stays usable for the user's own hosts). TLS connections are handshaken here, with
/// the certificate and key of the vhost the dispatcher picked by SNI, read as the user
/// (<see cref="SiteCertificates"/>); TLS session tickets are this process's own, so they can only
/// ever resume into this user's sites.
/// </summary>
public sealed class Worker(int poolId)
{
    private const int Channel = 4;
    private readonly ConcurrentDictionary<string, int> _requests = new();
    private readonly PassedConnectionListenerFactory _transport = new();
    /// <summary>How long a draining worker lets in-flight responses run (a slow download).</summary>
    public const int DrainSeconds = 120;
    private readonly Dictionary<VirtualHost, AccessLog> _logs = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<VirtualHost, ErrorLog> _errorLogs = new(ReferenceEqualityComparer.Instance);
    private readonly List<LogFile> _logFiles = new();
    private readonly object _channelGate = new();
    private volatile bool _draining, _trimmed;
    private int _connections;
    private long _idleSince = Environment.TickCount64;
    /// <summary>How long without a connection before the worker trims its working set.</summary>
    private const int IdleTrimMs = 2000;
    private readonly ConcurrentDictionary<string, Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature> _lifetimes = new();
    /// <summary>What the dispatcher said of each open connection: the vhost it routed to and how it is spoken.</summary>
    private readonly ConcurrentDictionary<string, PassedConnection> _passed = new();
    private readonly RateLimitedLog _limited = new();
    private SiteCertificates _certificates = null!;
    private Snapshot _snapshot = null!;

    /// <summary>A connection as passed: its vhost (an index into the snapshot) and kind; for TLS, the certificate it was handshaken with.</summary>
    private sealed class PassedConnection(int vhost, ConnectionKind kind)
    {
        public int Vhost { get; } = vhost;
        public ConnectionKind Kind { get; } = kind;
        public System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate { get; set; }
    }

    public int Run()
    {
        // FastCGI replies (the user's php-cgi) continue on the socket thread too, like Kestrel's
        // connections (inline scheduling): one thread hop less per PHP request. Read by .NET
        // when the first socket is made, which is after this line.
        if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
            Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
        Log.Relayed = true;
        // --- as root: the snapshot, the priority, then the drop ---
        var snapshot = _snapshot = Snapshot.Receive();
        if (snapshot.WorkerPool != poolId) throw new PrivilegeException($"snapshot is for pool {snapshot.WorkerPool}, not {poolId}");
        // Every descriptor from here on is close-on-exec: the channel and the logs were mapped
        // without it, and nothing a CGI or php-cgi starts may inherit them.
        MasterProcess.MarkInheritedCloseOnExec();
        var pool = snapshot.Pool(poolId);
        Log.Role = $"worker {pool.User}";
        var mine = snapshot.VhostsOf(poolId).ToList();
        if (mine.Select(v => v.Vhost.Nice).FirstOrDefault(n => n is not null) is int nice) Privileges.SetNice(nice);
        Privileges.DropTo(pool.User, pool.Uid, pool.Gid, (snapshot.UidMin, snapshot.UidMax), (snapshot.GidMin, snapshot.GidMax));
        // --- from here on: the pool's user, for good ---
        Privileges.SetProcessName($"itkd: w {pool.User}");
        OpenLogs(snapshot);
        var index = new Dictionary<VirtualHost, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < snapshot.VirtualHosts.Count; i++) index[snapshot.VirtualHosts[i]] = i;
        var selector = new VhostSelector(snapshot.VirtualHosts);
        var files = new StaticFiles();
        using var scripts = new Scripts.ScriptHost(snapshot.PhpCgi, snapshot.PhpChildren);
        var pipeline = new Pipeline(snapshot, files, scripts);
        _certificates = new SiteCertificates(snapshot, poolId);

        var sw = System.Diagnostics.Stopwatch.StartNew();
        // The empty builder: no configuration files to find or watch (the slim one spends
        // a quarter second on that), only Kestrel.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = "/" });
        builder.WebHost.UseKestrelCore();
        builder.Logging.AddProvider(new KestrelLogProvider());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // Hosting's per-request diagnostics log nothing at Warning, but while their category is
        // enabled at all ASP.NET Core starts an Activity and a logging scope for every request.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.Services.AddSingleton<IConnectionListenerFactory>(_transport);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(snapshot.KeepAliveTimeoutSeconds); // KeepAliveTimeout, Apache's default 5 s
            // LimitRequestLine/FieldSize/Fields/Body are the pipeline's (Apache's answers); Kestrel's own only bound the worst case
            var (line, fieldSize, fieldCount) = Pipeline.MaxLimits(snapshot);
            k.Limits.MaxRequestLineSize = line + 2;
            k.Limits.MaxRequestHeaderCount = Math.Max(1000, fieldCount * 10);
            k.Limits.MaxRequestHeadersTotalSize = (fieldCount + 1) * (fieldSize + 2) + line + 2;
            k.Limits.MaxRequestBodySize = null;
            // "GET http://b.test/x" with "Host: a.test" is for b.test (RFC 9112 3.2.2), as Apache routes it
            k.AllowHostHeaderOverride = true;
            // One endpoint per kind of passed connection; the counting middleware is outermost, so
            // a connection is reported closed whatever happened inside (a failed handshake too).
            ConnectionDelegate Tracked(ConnectionDelegate next) => async connection =>
            {
                Interlocked.Increment(ref _connections);
                _trimmed = false;
                var lifetime = connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>();
                if (lifetime is not null) _lifetimes[connection.ConnectionId] = lifetime;
                try { await next(connection); }
                finally
                {
                    _lifetimes.TryRemove(connection.ConnectionId, out _);
                    _passed.TryRemove(connection.ConnectionId, out _);
                    if (Interlocked.Decrement(ref _connections) == 0) _idleSince = Environment.TickCount64;
                    _requests.TryRemove(connection.ConnectionId, out int served);
                    ReportClosed(connection.ConnectionId, served);
                }
            };
            k.Listen(new PassedEndPoint(ConnectionKind.Http1), listen => { listen.Protocols = HttpProtocols.Http1; listen.Use(Tracked); });
            k.Listen(new PassedEndPoint(ConnectionKind.H2c), listen => { listen.Protocols = HttpProtocols.Http2; listen.Use(Tracked); });
            k.Listen(new PassedEndPoint(ConnectionKind.Tls), listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2; // ALPN picks, per the vhost's Protocols
                listen.Use(Tracked);
                listen.UseHttps(new TlsHandshakeCallbackOptions
                {
                    HandshakeTimeout = TimeSpan.FromSeconds(Math.Max(snapshot.HeaderTimeoutSeconds, 10)),
                    OnConnection = TlsOptions,
                });
                listen.Use(next => async connection =>
                {
                    await next(connection);
                    // close_notify before the socket closes, as Apache and nginx send it: without it an
                    // OpenSSL client sees an unexpected EOF and drops the session, and its next
                    // connection cannot resume (a full handshake every time).
                    if (connection.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.ISslStreamFeature>()?.SslStream is { } tls)
                        try { await tls.ShutdownAsync(); }
                        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or NotSupportedException) { }
                });
            });
        });
        var app = builder.Build();
        app.Run(async context =>
        {
            _requests.AddOrUpdate(context.Connection.Id, 1, (_, n) => n + 1);
            // Draining: this response is the connection's last.
            if (_draining) context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();
            context.Response.Headers.Server = "itkd";
            var local = context.Connection.LocalIpAddress ?? System.Net.IPAddress.Loopback;
            string hostHeader = context.Request.Headers.Host.ToString(); // on HTTP/2, Kestrel's copy of :authority
            var vhost = selector.Select(local, context.Connection.LocalPort, hostHeader);
            bool http2 = HttpProtocol.IsHttp2(context.Request.Protocol);
            if (vhost is null || snapshot.VhostPools[index[vhost]] != poolId)
            {
                // Another user's vhost on this connection: never serve it, never drop silently. On
                // HTTP/1 the connection ends after the 421; on HTTP/2 only this stream is refused, and
                // the user's own hosts keep the connection (RFC 9113 9.1.1): GOAWAY would end them too.
                Log.Write(LogEvent.MisdirectedRequest, $"Host '{LogText.EscapeControl(hostHeader)}' belongs to {vhost?.User ?? "no vhost"}; 421{(http2 ? " on this stream" : "")}");
                if (!http2)
                {
                    context.Response.Headers.Connection = "close";
                    // and make Kestrel close it after this response, whatever the client asked for
                    context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();
                }
                await Refuse(context, StatusCodes.Status421MisdirectedRequest, "421 Misdirected Request: this connection serves another site; open a new connection.\n");
                return;
            }
            if (TlsRefusal(context, vhost, hostHeader, selector, local) is { } refusal)
            {
                await Refuse(context, refusal.Status, refusal.Body);
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

        // One graceful stop for every reason (SIGTERM, dispatcher gone): StopApplication lets
        // WaitForShutdown run the host's StopAsync once, which waits for in-flight requests.
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; new Thread(() => Drain(app)) { IsBackground = true }.Start(); });
        app.Start();
        // What start-up allocated and no longer needs goes back at once (a fresh worker is most of a tenant's cost).
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Log.Write(LogEvent.WorkerStarted, $"serving {mine.Count} vhost(s) as {pool.User}:{pool.Group} (Kestrel up in {sw.ElapsedMilliseconds} ms)");
        var reader = new Thread(() => ReadChannel(app)) { IsBackground = true, Name = "dispatcher-channel" };
        reader.Start();
        using var timer = new Timer(_ =>
        {
            foreach (var f in _logFiles) f.Flush();
            _certificates.Refresh(); // a renewed certificate is served within a second or two, without a restart
            Reaper.ReapAll(); // in case a SIGCHLD was merged with another
            // Idle for a moment: give back the free heap and the start-up pages (see WorkingSet).
            if (!_trimmed && Volatile.Read(ref _connections) == 0 && Environment.TickCount64 - _idleSince > IdleTrimMs)
            {
                _trimmed = true;
                files.DropCache();
                WorkingSet.Trim();
            }
        }, null, 1000, 1000);
        app.WaitForShutdown();
        // The host has stopped; let every connection finish handing its output to the kernel.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (_transport.Open > 0 && DateTime.UtcNow < deadline) Thread.Sleep(10);
        Log.Write(LogEvent.WorkerDraining, $"host stopped; open {_transport.Open}");
        foreach (var f in _logFiles) f.Dispose();
        return 0;
    }

    /// <summary>The vhost logs: descriptors the master opened as root, or opened here, as the user.</summary>
    private void OpenLogs(Snapshot snapshot)
    {
        var files = new Dictionary<string, LogFile>();
        foreach (var spec in snapshot.Logs)
        {
            var vh = snapshot.VirtualHosts[spec.Vhost];
            if (!files.TryGetValue(spec.Path, out var file))
            {
                try { file = spec.Fd >= 0 ? LogFile.FromDescriptor(spec.Fd) : LogFile.OpenAsUser(spec.Path); }
                catch (IOException e)
                {
                    Log.Write(LogEvent.RequestFailed, $"{(spec.Error ? "ErrorLog" : "CustomLog")} of {vh.Name}: {e.Message}; not logging there");
                    continue;
                }
                files[spec.Path] = file;
            }
            if (spec.Error) _errorLogs[vh] = new ErrorLog(file);
            else _logs[vh] = new AccessLog(file);
        }
        _logFiles.AddRange(files.Values);
    }

    /// <summary>Connections and pings from the dispatcher; at end of stream, finish what is in flight and exit.</summary>
    private void ReadChannel(WebApplication app)
    {
        int received = 0;
        var buffer = new byte[Protocol.MaxMessage + 1];
        try
        {
            while (Protocol.Receive(Channel, Direction.DispatcherToWorker, buffer, false, out var m, out int fd) == ReceiveStatus.Message)
            {
                switch (m)
                {
                    case ConnectionMessage c:
                        received++;
                        string id = c.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
                        var socket = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
                        if (c.Vhost < 0 || c.Vhost >= _snapshot.VirtualHosts.Count || _snapshot.VhostPools[c.Vhost] != poolId)
                        {
                            // Only the dispatcher sends these; a vhost not of this pool is a bug there, never served here.
                            Log.Write(LogEvent.PeerProtocolError, $"connection {id} for vhost {c.Vhost}, which is not one of this worker's; closed");
                            socket.Dispose();
                            ReportClosed(id, 0);
                            break;
                        }
                        _open[c.Id] = c.Vhost;
                        _passed[id] = new PassedConnection(c.Vhost, c.Kind);
                        _transport.Add(socket, id, c.Kind);
                        break;
                    case PingMessage p:
                        // Answered from this thread: a pong says every connection sent before the ping was taken.
                        lock (_channelGate) Protocol.Send(Channel, new PongMessage(p.Sequence));
                        break;
                    case ResyncMessage:
                        Resync();
                        break;
                    case DrainMessage:
                        Log.Write(LogEvent.WorkerDraining, $"told to drain after {received} connection(s)");
                        new Thread(() => Drain(app)) { IsBackground = true, Name = "drain" }.Start();
                        break;
                }
            }
        }
        catch (Exception e) when (e is ProtocolException or IOException)
        {
            Log.Write(LogEvent.WorkerDraining, e.Message);
        }
        Log.Write(LogEvent.WorkerDraining, $"dispatcher channel closed after {received} connection(s): finishing in-flight requests");
        Drain(app);
    }

    /// <summary>
    /// A graceful end, as Apache's graceful restart: connections already handed over are still
    /// taken, each connection's next response is its last (Connection: close), and an idle
    /// keep-alive connection is left to its keep-alive timeout rather than closed under a client
    /// that may be sending on it this very moment. The host stops when none is left.
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
        while (_transport.Open > 0 && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Log.Write(LogEvent.WorkerDraining, $"connections done (open {_transport.Open}); stopping");
        app.Lifetime.StopApplication();
    }

    /// <summary>
    /// The TLS callback: the options (certificate context, protocols, ciphers, ALPN) of the vhost the
    /// dispatcher routed this connection to. A vhost without a usable pair fails the handshake, with
    /// this worker's own log line (Kestrel would only log it as an unhandled exception).
    /// </summary>
    private ValueTask<System.Net.Security.SslServerAuthenticationOptions> TlsOptions(TlsHandshakeCallbackContext ctx)
    {
        if (!_passed.TryGetValue(ctx.Connection.ConnectionId, out var passed))
            throw new SiteCertificateException($"connection {ctx.Connection.ConnectionId} is unknown");
        var options = _certificates.Options(passed.Vhost, out var leaf, out string? why);
        if (options is null)
        {
            var vh = _snapshot.VirtualHosts[passed.Vhost];
            _limited.Write(LogEvent.TlsHandshakeFailed, $"{vh.Name}: no certificate to serve ({why}); handshake refused");
            throw new SiteCertificateException(why ?? "no certificate");
        }
        passed.Certificate = leaf;
        return ValueTask.FromResult(options);
    }

    /// <summary>
    /// mod_ssl's checks of a request on a TLS connection (ssl_hook_ReadReq), where the request's vhost
    /// is this user's: SNI without a Host is 400; no SNI where SSLStrictSNIVHostCheck is on (in the
    /// request's vhost or the handshake's), on a name-based address, is 403; a vhost other than the
    /// handshake's whose name the connection's certificate does not cover is 421 (the client must
    /// open a connection for it). Null: serve it.
    /// </summary>
    private (int Status, string Body)? TlsRefusal(HttpContext context, VirtualHost vhost, string hostHeader, VhostSelector selector, System.Net.IPAddress local)
    {
        if (!_passed.TryGetValue(context.Connection.Id, out var passed) || passed.Kind != ConnectionKind.Tls) return null;
        var handshake = _snapshot.VirtualHosts[passed.Vhost];
        string? sni = context.Features.Get<Microsoft.AspNetCore.Connections.Features.ITlsHandshakeFeature>()?.HostName;
        sni = string.IsNullOrEmpty(sni) ? null : VhostSelector.NormalizeHost(sni);
        string host = VhostSelector.NormalizeHost(hostHeader);
        if (sni is not null && host.Length == 0)
            return (400, $"400 Bad Request: the TLS handshake named {sni} (SNI) but the request names no host.\n");
        if (sni is null && (vhost.Tls.StrictSni == true || handshake.Tls.StrictSni == true)
            && selector.Candidates(local, context.Connection.LocalPort).Count > 1)
            return (403, "403 Forbidden: this site needs a client that sends its name in the TLS handshake (SNI).\n");
        if (!ReferenceEquals(vhost, handshake) && passed.Certificate is { } cert && !cert.MatchesHostname(host))
        {
            Log.Write(LogEvent.MisdirectedRequest, $"Host '{LogText.EscapeControl(hostHeader)}' is not covered by the certificate of {handshake.Name}, which this connection was opened for; 421");
            return (421, $"421 Misdirected Request: the certificate of this connection does not cover {host}; open a new connection.\n");
        }
        return null;
    }

    /// <summary>A short text answer the worker gives itself (421, 403, 400), with the site's Server header.</summary>
    private static async Task Refuse(HttpContext context, int status, string text)
    {
        var body = System.Text.Encoding.ASCII.GetBytes(text);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body);
    }

    private readonly ConcurrentQueue<(long Id, int Served)> _closed = new();
    private int _flushing;
    /// <summary>Connections handed over and not yet reported closed, with their vhost (a new dispatcher asks for them).</summary>
    private readonly ConcurrentDictionary<long, int> _open = new();
    /// <summary>Taken while a connection leaves <see cref="_open"/> for the report queue and while reports or the list go out, so a new dispatcher never hears of a connection twice or not at all.</summary>
    private readonly object _openGate = new();

    /// <summary>
    /// A new dispatcher took this worker over: first every report still queued (about connections
    /// of the dead dispatcher, which the new one ignores until the list ends), then the connections
    /// still open, then the end of the list.
    /// </summary>
    private void Resync()
    {
        lock (_openGate)
        {
            FlushClosedLocked();
            var open = _open.ToArray();
            lock (_channelGate)
            {
                foreach (var chunk in open.Chunk(OpenMessage.MaxItems))
                    Protocol.Send(Channel, new OpenMessage(chunk.Select(kv => (kv.Key, kv.Value)).ToArray()));
                Protocol.Send(Channel, new OpenEndMessage(open.Length));
            }
            Log.Write(LogEvent.WorkerStarted, $"taken over by a new dispatcher with {open.Length} open connection(s)");
        }
    }

    /// <summary>
    /// Tells the dispatcher connections are done (it counts MaxClientsVHost by them). The thread
    /// that closed the connection sends the report itself, and every report queued by other
    /// threads while it sends goes out with the next message: under a load of short connections
    /// one sendmsg (and one wake-up of the dispatcher) carries many, and a lone close costs no
    /// timer and no thread hop (a worker of a rarely visited site would otherwise wake two more
    /// threads, cache-cold, for every connection).
    /// </summary>
    private void ReportClosed(string connectionId, int served)
    {
        if (!long.TryParse(connectionId, System.Globalization.CultureInfo.InvariantCulture, out long id)) return;
        lock (_openGate)
        {
            _open.TryRemove(id, out _);
            _closed.Enqueue((id, served));
        }
        // One sender at a time; the queue is looked at again after the sender lets go, so a report
        // queued while it sent (whose thread found the flag taken and left) is never left behind.
        while (!_closed.IsEmpty && Interlocked.CompareExchange(ref _flushing, 1, 0) == 0)
        {
            try { lock (_openGate) FlushClosedLocked(); }
            finally { Volatile.Write(ref _flushing, 0); }
        }
    }

    private void FlushClosedLocked()
    {
        var batch = new List<(long, int)>(ClosedMessage.MaxItems);
        while (!_closed.IsEmpty)
        {
            batch.Clear();
            while (batch.Count < ClosedMessage.MaxItems && _closed.TryDequeue(out var c)) batch.Add(c);
            if (batch.Count == 0) break;
            try { lock (_channelGate) Protocol.Send(Channel, new ClosedMessage(batch.ToArray())); }
            catch (IOException) { _closed.Clear(); return; } // the dispatcher is gone (draining): nobody to tell
        }
    }
}

/// <summary>Kestrel's own warnings and errors (a request it refused, an exception in the application) into itkd's log.</summary>
internal sealed class KestrelLogProvider : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName);
    public void Dispose() { }

    private sealed class Logger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string text = formatter(state, exception);
            if (exception is not null) text += $" ({exception.GetType().Name}: {exception.Message})";
            Server.Log.Write(LogEvent.Kestrel, $"{logLevel} {category}[{eventId.Id}]: {text}");
        }
    }
}
