using System.Text;
using Mono.Unix.Native;

namespace ItkPs.Server;

/// <summary>Numbered log events. Numbers are never reused; retire one by leaving it here.</summary>
public enum LogEvent
{
    MasterStarted = 1001, ListenerBound = 1002, DispatcherSpawned = 1003, WorkerSpawned = 1004,
    WorkerExited = 1005, WorkerCrashed = 1006, CrashLoopThrottled = 1007, ReloadStarted = 1008,
    ReloadRejected = 1009, ReloadDone = 1010, StopRequested = 1011, Stopped = 1012, ConfigError = 1013,
    DispatcherExited = 1014, ControlRequest = 1015, LogSuppressed = 1016, WorkerKilled = 1017, LogOpenedByUser = 1018,
    AccountCreated = 1019, TerminalDetached = 1020, WorkerImage = 1021,
    DispatcherStarted = 2001, ListenerReceived = 2002, ClientTimeout = 2003, VhostBusy = 2004,
    NoVhost = 2005, WorkerAttached = 2006, WorkerDetached = 2007, Draining = 2008, PeerProtocolError = 2009, RoutingFailed = 2010,
    WorkerUnresponsive = 2011, PoolHeldBack = 2012, AcceptFailed = 2013, BadClientHello = 2014, DispatcherTrimmed = 2015,
    WorkerStarted = 3001, MisdirectedRequest = 3002, WorkerIdleExit = 3003, WorkerDraining = 3004, RequestFailed = 3005,
    PhpStarted = 3006, PhpExited = 3007, PhpThrottled = 3008, ScriptFailed = 3009, Kestrel = 3010, PhpOutput = 3011,
    CertificateLoaded = 3012, CertificateFailed = 3013, TlsHandshakeFailed = 3014,
}

/// <summary>
/// One line per event: time, pid, role, uid, the event number, then the text. The master writes
/// its own lines whole; the other roles write "E&lt;n&gt; Name: text" to a pipe that the master
/// reads (<see cref="LogRelay"/>) and prefixes with what it knows of that child, so no child can
/// write a line that claims to be another process, another role or root.
/// </summary>
public static class Log
{
    public static string Role { get; set; } = "master";
    /// <summary>True in the dispatcher and workers: the master adds time, pid, role and uid.</summary>
    public static bool Relayed { get; set; }
    private static readonly object Gate = new();
    private static readonly Stream Out = Console.OpenStandardError();

    public static void Write(LogEvent e, string message)
    {
        string line = (Relayed ? "" : Prefix(Environment.ProcessId, Role, Syscall.getuid())) + $"E{(int)e} {e}: {LogText.EscapeControl(message)}";
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        lock (Gate) { try { Out.Write(bytes); Out.Flush(); } catch (IOException) { } }
    }

    /// <summary>Written by the master for lines of its own and, with the child's real pid, role and uid, for relayed ones.</summary>
    public static string Prefix(int pid, string role, uint uid) => $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} itkd[{pid}] {role} uid={uid} ";

    /// <summary>The master's raw write of an already formatted line.</summary>
    internal static void WriteLine(ReadOnlySpan<byte> line)
    {
        lock (Gate) { try { Out.Write(line); Out.WriteByte((byte)'\n'); Out.Flush(); } catch (IOException) { } }
    }
}

/// <summary>
/// Log escaping as Apache's ap_escape_logitem does it: control characters, bytes over 0x7e, the
/// double quote and the backslash become \b \n \r \t \v \" \\ or \xhh, so a request header or a
/// tenant's output can neither start a new log line nor reach an operator's terminal as an escape
/// sequence.
/// </summary>
public static class LogText
{
    /// <summary>For a quoted field of the access log: also " and \.</summary>
    public static string Escape(string? s) => Escape(s, quotes: true);

    /// <summary>For free text (the server log, the error log): control characters and bytes over 0x7e only.</summary>
    public static string EscapeControl(string? s) => Escape(s, quotes: false);

    public static string EscapeControl(ReadOnlySpan<byte> bytes) => Escape(bytes, quotes: false);

    private static bool NeedsEscape(byte b, bool quotes) => b < 0x20 || b > 0x7e || quotes && (b == (byte)'"' || b == (byte)'\\');

    private static string Escape(string? s, bool quotes)
    {
        if (string.IsNullOrEmpty(s)) return s ?? "";
        bool plain = true;
        foreach (char c in s) if (c < 0x20 || c > 0x7e || quotes && (c == '"' || c == '\\')) { plain = false; break; }
        return plain ? s : Escape(Encoding.UTF8.GetBytes(s), quotes);
    }

    public static string Escape(ReadOnlySpan<byte> bytes, bool quotes)
    {
        var sb = new StringBuilder(bytes.Length + 16);
        foreach (byte b in bytes) Append(sb, b, quotes);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, byte b, bool quotes)
    {
        if (!NeedsEscape(b, quotes)) { sb.Append((char)b); return; }
        sb.Append('\\');
        switch (b)
        {
            case (byte)'\b': sb.Append('b'); break;
            case (byte)'\n': sb.Append('n'); break;
            case (byte)'\r': sb.Append('r'); break;
            case (byte)'\t': sb.Append('t'); break;
            case (byte)'\v': sb.Append('v'); break;
            case (byte)'\\' or (byte)'"': sb.Append((char)b); break;
            default: sb.Append('x').Append(HexDigit(b >> 4)).Append(HexDigit(b & 0xf)); break;
        }
    }

    private static char HexDigit(int v) => (char)(v < 10 ? '0' + v : 'a' + v - 10);
}
