using System.Diagnostics;
using System.Net.Sockets;
using ItkPs.Server;
using Xunit;
using static ItkPs.Server.Tests.DispatcherHarness;

namespace ItkPs.Server.Tests;

/// <summary>
/// What a worker — a process its tenant may stop, kill or make say anything — can and cannot do to
/// the dispatcher: it can speak only about the connections it was given, it cannot stall routing for
/// anyone else, and whatever it sends, the dispatcher drops that worker and goes on.
/// </summary>
public class DispatcherProtocolTests
{
    private static T Take<T>(DispatcherHarness h, int seconds = 10) where T : Message
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
            if (h.ToMaster.TryTake(out var m, TimeSpan.FromMilliseconds(100)) && m is T t) return t;
        throw new TimeoutException($"the dispatcher sent the master no {typeof(T).Name}");
    }

    [Fact]
    public void ForgedClosedReportsEndTheForgerAndReleaseNoOtherTenantsSlots()
    {
        // Tenant 2's vhost allows 5 connections; its worker holds 5 open.
        using var h = new DispatcherHarness(2, pool => pool == 2 ? Mode.Hold : Mode.Serve, pool => pool == 2 ? 5 : null);
        Assert.StartsWith("HTTP/1.1 200", StatusLine(h.Request("v1.test")));
        var held = Enumerable.Range(0, 5).Select(_ => h.Request("v2.test")).ToList();
        var worker2 = h.WaitForWorker(2);
        for (int i = 0; i < 5; i++) Assert.True(worker2.Received.TryTake(out _, 5000));

        // Tenant 1's worker reports "closed" for every id there is.
        var forger = h.WaitForWorker(1);
        for (int start = 1; start <= 3000; start += 250)
            try { forger.Send(new ClosedMessage(Enumerable.Range(start, 250).Select(i => ((long)i, 1)).ToArray())); }
            catch (IOException) { break; } // already cut off

        var report = Take<WorkerUnresponsiveMessage>(h);
        Assert.Equal(1, report.PoolId);
        Assert.Equal(forger.Pid, report.Pid);
        Assert.Contains("never given", report.Reason);
        Assert.True(SpinWait.SpinUntil(forger.IsCut, 5000), "the forger's channel is still open");
        // Tenant 2's five are still counted: a sixth gets 503, not a slot freed by the forgery.
        Assert.Equal("HTTP/1.1 503 Service Unavailable", StatusLine(h.Request("v2.test")));
        var (links, _) = h.Status(1);
        Assert.Equal(5, links.Single(l => l.PoolId == 2).Active);
        foreach (var s in held) s.Dispose();
    }

    [Fact]
    public void AStoppedWorkerDelaysNoOtherTenantAndItsWaitingConnectionsGet503()
    {
        using var h = new DispatcherHarness(2, pool => pool == 1 ? Mode.Stopped : Mode.Serve);
        Assert.StartsWith("HTTP/1.1 200", StatusLine(h.Request("v2.test")));
        var stuck = Enumerable.Range(0, 400).Select(_ => h.Request("v1.test")).ToList();
        var stopped = h.WaitForWorker(1);

        // While tenant 1's worker reads nothing, tenant 2 is served as before.
        var watch = new Stopwatch();
        var slowest = TimeSpan.Zero;
        for (int i = 0; i < 100; i++)
        {
            watch.Restart();
            using var s = h.Request("v2.test");
            Assert.StartsWith("HTTP/1.1 200", StatusLine(s));
            if (watch.Elapsed > slowest) slowest = watch.Elapsed;
        }
        Assert.True(slowest < TimeSpan.FromMilliseconds(500), $"the other tenant waited {slowest.TotalMilliseconds} ms");

        // The stopped worker is reported to the master within the wedge time, and what waited for it gets 503.
        var report = Take<WorkerUnresponsiveMessage>(h, Dispatcher.WedgeMs / 1000 + 5);
        Assert.Equal(stopped.Pid, report.Pid);
        Assert.True(SpinWait.SpinUntil(stopped.IsCut, 5000));
        stopped.Dispose(); // the master kills it: what sat in its channel goes with it
        var answers = stuck.Select(s => StatusLine(s, 5000)).ToList();
        int refused = answers.Count(a => a == "HTTP/1.1 503 Service Unavailable");
        Assert.True(refused >= 350, $"only {refused} of 400 waiting connections got 503");
        Assert.All(answers, a => Assert.True(a is null or "HTTP/1.1 503 Service Unavailable", a));
        foreach (var s in stuck) s.Dispose();
    }

    public static TheoryData<string, byte[]> Garbage => new()
    {
        { "an unknown type", [99] },
        { "a message the dispatcher sends, not a worker", [20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
        { "a pong nobody asked for", [31, 42, 0, 0, 0] },
        { "a packet too long", new byte[Protocol.MaxMessage + 100] },
        { "a closed report of nothing", [30, 0, 0] },
    };

    [Theory]
    [MemberData(nameof(Garbage))]
    public void GarbageFromAWorkerEndsThatWorkerOnly(string what, byte[] packet)
    {
        using var h = new DispatcherHarness(2);
        Assert.StartsWith("HTTP/1.1 200", StatusLine(h.Request("v1.test")));
        Assert.StartsWith("HTTP/1.1 200", StatusLine(h.Request("v2.test")));
        var bad = h.WaitForWorker(1);
        if (packet.Length > Protocol.MaxMessage) packet[0] = 31;
        bad.SendRaw(packet);
        var report = Take<WorkerUnresponsiveMessage>(h);
        Assert.True(report.Pid == bad.Pid, what);
        Assert.True(SpinWait.SpinUntil(bad.IsCut, 5000), what);
        // The dispatcher is alive and routes the others; the dropped pool gets a new worker.
        Assert.StartsWith("HTTP/1.1 200", StatusLine(h.Request("v2.test")));
        var (links, _) = h.Status(7);
        Assert.DoesNotContain(links, l => l.Pid == bad.Pid);
        Assert.False(h.DispatcherEnded);
    }

    [Fact]
    public void AWorkerTakenOverFromADeadDispatcherKeepsItsConnectionsCounted()
    {
        // Vhost 1 allows 2 connections; a worker of pool 1 still has one open from the dead dispatcher.
        using var h = new DispatcherHarness(2, maxClients: pool => pool == 1 ? 2 : null);
        var w = h.Adopt(1, Mode.Hold);
        Assert.True(SpinWait.SpinUntil(() => w.Resyncs == 1, 5000), "the new dispatcher never asked for the open connections");
        long old = 1L << 40 | 17; // an id of incarnation 1
        w.Send(new ClosedMessage([(5, 1)]));                   // about a connection that closed meanwhile: ignored
        w.Send(new OpenMessage([(old, 0)]));                   // vhost index 0 is v1.test, pool 1: its own
        w.Send(new OpenEndMessage(1));
        Assert.True(SpinWait.SpinUntil(() => h.Status(11).Links.SingleOrDefault(l => l.Pid == w.Pid).Active == 1, 5000));
        using var second = h.Request("v1.test");              // one slot left: passed
        Assert.True(w.Received.TryTake(out _, 5000));
        Assert.Equal("HTTP/1.1 503 Service Unavailable", StatusLine(h.Request("v1.test"))); // the adopted one still counts
        w.Send(new ClosedMessage([(old, 3)]));                  // now it closes: a slot again
        Assert.True(SpinWait.SpinUntil(() => h.Status(12).Links.Single(l => l.Pid == w.Pid).Active == 1, 5000));
        // After the list, an unknown id is a lie again.
        w.Send(new ClosedMessage([(4242, 1)]));
        Assert.Equal(w.Pid, Take<WorkerUnresponsiveMessage>(h).Pid);
    }

    [Fact]
    public void ATakenOverWorkerCannotClaimAnotherTenantsVhost()
    {
        using var h = new DispatcherHarness(2);
        var w = h.Adopt(1, Mode.Hold);
        Assert.True(SpinWait.SpinUntil(() => w.Resyncs == 1, 5000));
        w.Send(new OpenMessage([(1L << 40, 1)]));              // vhost index 1 is v2.test, pool 2
        var report = Take<WorkerUnresponsiveMessage>(h);
        Assert.Equal(w.Pid, report.Pid);
        Assert.Contains("cannot be its own", report.Reason);
    }

    [Fact]
    public void StatusOfFiveHundredPoolsComesInParts()
    {
        using var h = new DispatcherHarness(500);
        for (int i = 1; i <= 500; i++) using (var s = h.Request($"v{i}.test")) Assert.StartsWith("HTTP/1.1 200", StatusLine(s));
        var (links, end) = h.Status(3);
        Assert.Equal(Enumerable.Range(1, 500), links.Select(l => l.PoolId).Order());
        Assert.Equal(500, end.Accepted);
        Assert.False(h.DispatcherEnded);
    }

    [Fact]
    public void AMessageTheMasterMayNotSendEndsTheDispatcherCleanly()
    {
        var h = new DispatcherHarness(1);
        h.SendRawFromMaster([31, 1, 0, 0, 0]); // a Pong: only workers send those, and never to the master's direction
        Assert.True(SpinWait.SpinUntil(() => h.DispatcherEnded, 20_000), "the dispatcher kept going");
    }

    [Fact]
    public void ABadHeadGets400AtOnce()
    {
        using var h = new DispatcherHarness(1, headTimeoutSeconds: 10);
        foreach (var head in new[] { "GET / HTTP/1.1\nHost: v1.test\n\n", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "GE\x01T / HTTP/1.1\r\n" })
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Connect(System.Net.IPAddress.Loopback, h.Port);
            s.Send(System.Text.Encoding.Latin1.GetBytes(head));
            var watch = Stopwatch.StartNew();
            Assert.Equal("HTTP/1.1 400 Bad Request", StatusLine(s));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"{watch.Elapsed} for {head.Length} bytes");
        }
    }
}
