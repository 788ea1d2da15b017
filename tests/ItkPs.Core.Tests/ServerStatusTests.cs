using ItkPs.Core.Hosting;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>The control socket's status document as Get-ItkServer reads it.</summary>
public class ServerStatusTests
{
    // The shape itkd writes today, plus fields a newer itkd may add (pool ids, more counters, a section of its own).
    private const string Json = """
        {"pid":100,"config":"/etc/itkps/itkps.conf","generation":2,"dispatcherPid":101,"listeners":["127.0.0.1:8080"],
         "started":"2026-12-01T10:00:00Z","uptimeSeconds":65,"newTopLevelCounter":7,"tls":{"handshakes":3},
         "pools":[{"key":"1001:1001","id":17,"user":"alice","group":"alice","workers":2,"workerPids":[200,201],"spawned":2,"crashes":0,"throttled":false,"rssKb":12000}],
         "lastReload":{"at":"2026-12-01T10:01:00Z","ok":false,"message":"a.conf:3: error: x","durationMs":12},
         "dispatcher":{"pid":101,"accepted":9,"workers":[
            {"key":"1001:1001","pid":200,"active":1,"connections":5,"requests":7,"queue":0},
            {"key":"1001:1001","pid":201,"active":2,"connections":3,"requests":4}],"vhosts":[]}}
        """;

    [Fact]
    public void UnknownFieldsAreIgnoredAndAPoolsWorkersAreSummed()
    {
        var s = ServerControl.Parse(Json, "/run/itkd/itkd.sock");
        Assert.Equal(100, s.Pid);
        Assert.Equal(["127.0.0.1:8080"], s.Listeners);
        Assert.Equal(TimeSpan.FromSeconds(65), s.Uptime);
        Assert.False(s.LastReloadOk);
        Assert.Equal("a.conf:3: error: x", s.LastReloadMessage);
        var pool = Assert.Single(s.Pools);
        Assert.Equal(("alice", 2, 3L, 8L, 11L), (pool.User, pool.Workers, pool.ActiveConnections, pool.Connections, pool.RequestsServed));
        Assert.Equal([200, 201], pool.WorkerPids);
    }

    [Fact]
    public void NoReloadYetAndNoDispatcherAnswerReadAsNothing()
    {
        var s = ServerControl.Parse("""
            {"pid":1,"config":"c","generation":1,"dispatcherPid":0,"listeners":[],"started":"2026-12-01T10:00:00Z","uptimeSeconds":0,
             "pools":[{"key":"k","user":"u","group":"g","workers":0,"workerPids":[],"spawned":0,"crashes":0,"throttled":false}],
             "lastReload":null,"dispatcher":null}
            """, "s");
        Assert.Null(s.LastReloadAt);
        Assert.Equal(0, Assert.Single(s.Pools).Connections);
    }
}
