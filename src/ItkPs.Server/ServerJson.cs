using System.Text.Json.Serialization;

namespace ItkPs.Server;

/// <summary>The dispatcher's counters, as the master got them for a status request.</summary>
public sealed record DispatcherStatus(int Pid, long Accepted, long Timeouts, long Busy, long Refused, WorkerLinkStatus[] Workers, VhostActivity[] Vhosts);
public sealed record WorkerLinkStatus(string Key, int PoolId, int Pid, int Active, long Connections, long Requests);
public sealed record VhostActivity(string Name, int Active);

/// <summary>The master's answer on the control socket.</summary>
public sealed record MasterStatus(int Pid, string Config, int Generation, int DispatcherPid, string[] Listeners, DateTime Started,
    int UptimeSeconds, PoolInfo[] Pools, ReloadInfo? LastReload, DispatcherStatus? Dispatcher);
public sealed record PoolInfo(string Key, int Id, string User, string Group, int Workers, int[] WorkerPids, int Spawned, int Crashes, bool Throttled);
public sealed record ReloadInfo(DateTime At, bool Ok, string Message);
public sealed record ControlError(string Error);

/// <summary>Source-generated JSON for everything itkd writes or reads (no reflection: it is published ahead of time).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    PreferredObjectCreationHandling = JsonObjectCreationHandling.Populate)]
[JsonSerializable(typeof(Snapshot))]
[JsonSerializable(typeof(MasterStatus))]
[JsonSerializable(typeof(ControlError))]
internal sealed partial class ServerJson : JsonSerializerContext;
