using Mono.Unix.Native;

namespace ItkPs.Server;

/// <summary>Numbered log events. Numbers are never reused; retire one by leaving it here.</summary>
public enum LogEvent
{
    MasterStarted = 1001, ListenerBound = 1002, DispatcherSpawned = 1003, WorkerSpawned = 1004,
    WorkerExited = 1005, WorkerCrashed = 1006, CrashLoopThrottled = 1007, ReloadStarted = 1008,
    ReloadRejected = 1009, ReloadDone = 1010, StopRequested = 1011, Stopped = 1012, ConfigError = 1013,
    DispatcherExited = 1014, ControlRequest = 1015,
    DispatcherStarted = 2001, ListenerReceived = 2002, ClientTimeout = 2003, VhostBusy = 2004,
    NoVhost = 2005, WorkerAttached = 2006, WorkerDetached = 2007, Draining = 2008, PeerProtocolError = 2009, RoutingFailed = 2010,
    WorkerStarted = 3001, MisdirectedRequest = 3002, WorkerIdleExit = 3003, WorkerDraining = 3004, RequestFailed = 3005,
    PhpStarted = 3006, PhpExited = 3007, PhpThrottled = 3008, ScriptFailed = 3009,
}

/// <summary>One line per event on stderr: pid, role, uid and the event number, then the text.</summary>
public static class Log
{
    public static string Role { get; set; } = "master";
    private static readonly object Gate = new();

    public static void Write(LogEvent e, string message)
    {
        string line = $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} itkd[{Environment.ProcessId}] {Role} uid={Syscall.getuid()} E{(int)e} {e}: {message}";
        lock (Gate) Console.Error.WriteLine(line);
    }
}
