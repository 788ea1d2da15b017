using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace ItkPs.Core.Hosting;

/// <summary>One worker pool (one uid/gid) of a running itkd.</summary>
public sealed record PoolStatus(string User, string Group, int Workers, int[] WorkerPids, long ActiveConnections, long Connections, long RequestsServed, int Spawned, int Crashes, bool Throttled);

/// <summary>What a running itkd says about itself on its control socket.</summary>
public sealed record ServerStatus(int Pid, string ConfigFile, int Generation, int DispatcherPid, string[] Listeners, DateTime Started, TimeSpan Uptime, IReadOnlyList<PoolStatus> Pools, string ControlSocket)
{
    /// <summary>When the last reload (SIGHUP) was tried, whether it took, and why not.</summary>
    public DateTime? LastReloadAt { get; init; }
    public bool? LastReloadOk { get; init; }
    public string? LastReloadMessage { get; init; }
}

/// <summary>Client of itkd's root-only control socket: one line in, one JSON document out.</summary>
public static class ServerControl
{
    public const string DefaultSocket = "/run/itkd/itkd.sock";

    public static async Task<string> RequestAsync(string socketPath, string command, TimeSpan timeout)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var cts = new CancellationTokenSource(timeout);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cts.Token);
        await s.SendAsync(Encoding.ASCII.GetBytes(command + "\n"), cts.Token);
        var all = new MemoryStream();
        var buffer = new byte[8192];
        int n;
        while ((n = await s.ReceiveAsync(buffer, cts.Token)) > 0) all.Write(buffer, 0, n);
        return Encoding.UTF8.GetString(all.ToArray());
    }

    public static ServerStatus? TryStatus(string socketPath, TimeSpan timeout)
    {
        if (!File.Exists(socketPath)) return null;
        try { return Parse(RequestAsync(socketPath, "status", timeout).GetAwaiter().GetResult(), socketPath); }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException or JsonException) { return null; }
    }

    /// <summary>
    /// Reads the status document. Fields it does not know are ignored, so a newer itkd that
    /// reports more (pool ids, counters) still reads; the fields named here must be there.
    /// </summary>
    public static ServerStatus Parse(string json, string socketPath)
    {
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        // The dispatcher reports per worker; a pool of several workers shares one key, so its counters are the sum.
        var counters = new Dictionary<string, (long Active, long Connections, long Requests)>();
        if (r.TryGetProperty("dispatcher", out var d) && d.ValueKind == JsonValueKind.Object
            && d.TryGetProperty("workers", out var ws) && ws.ValueKind == JsonValueKind.Array)
        {
            foreach (var w in ws.EnumerateArray())
            {
                string key = w.GetProperty("key").GetString()!;
                long Get(string name) => w.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
                var c = counters.GetValueOrDefault(key);
                counters[key] = (c.Active + Get("active"), c.Connections + Get("connections"), c.Requests + Get("requests"));
            }
        }
        var pools = new List<PoolStatus>();
        foreach (var p in r.GetProperty("pools").EnumerateArray())
        {
            var c = counters.GetValueOrDefault(p.GetProperty("key").GetString()!);
            pools.Add(new PoolStatus(p.GetProperty("user").GetString()!, p.GetProperty("group").GetString()!, p.GetProperty("workers").GetInt32(),
                p.GetProperty("workerPids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                c.Active, c.Connections, c.Requests, p.GetProperty("spawned").GetInt32(), p.GetProperty("crashes").GetInt32(), p.GetProperty("throttled").GetBoolean()));
        }
        bool reloaded = r.TryGetProperty("lastReload", out var lr) && lr.ValueKind == JsonValueKind.Object;
        return new ServerStatus(r.GetProperty("pid").GetInt32(), r.GetProperty("config").GetString()!, r.GetProperty("generation").GetInt32(),
            r.GetProperty("dispatcherPid").GetInt32(), r.GetProperty("listeners").EnumerateArray().Select(x => x.GetString()!).ToArray(),
            r.GetProperty("started").GetDateTime(), TimeSpan.FromSeconds(r.GetProperty("uptimeSeconds").GetInt32()), pools, socketPath)
        {
            LastReloadAt = reloaded ? lr.GetProperty("at").GetDateTime() : null,
            LastReloadOk = reloaded ? lr.GetProperty("ok").GetBoolean() : null,
            LastReloadMessage = reloaded ? lr.GetProperty("message").GetString() : null,
        };
    }
}
