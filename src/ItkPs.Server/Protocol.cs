using System.Buffers.Binary;
using System.Text;
using ItkPs.Server.Privileged;

namespace ItkPs.Server;

/// <summary>
/// Every message the roles exchange, one record each. The master talks to the dispatcher and the
/// dispatcher to each worker over AF_UNIX SOCK_SEQPACKET pairs (one message per packet, at most
/// <see cref="Protocol.MaxMessage"/> bytes, at most one descriptor). Workers have no channel to the
/// master at all. <see cref="Protocol.Allowed"/> lists, per direction, the types a peer may send;
/// anything else, a malformed body, a missing or unexpected descriptor or an oversized packet is a
/// <see cref="ProtocolException"/>, and the receiver ends that peer.
/// </summary>
public enum MessageType : byte
{
    // master → dispatcher
    Listener = 1,           // fd: a bound listening socket; which Listen it is
    WorkerUp = 2,           // fd: the dispatcher's end of a new worker's channel
    WorkerRefused = 3,      // no worker for that pool now (throttled, spawn failed)
    WorkerGone = 4,         // the master reaped that worker
    StatusRequest = 5,
    Drain = 6,              // (to a dispatcher) stop accepting, route what is in hand, drain the workers, exit;
                            // (to a worker) finish the connections it has, take no more, exit
    // dispatcher → master
    NeedWorker = 10,
    WorkerUnresponsive = 11, // stopped reading its channel or broke the protocol: the master ends it
    WorkerRetired = 12,      // idle: the dispatcher closed its channel; its exit is expected
    StatusLinks = 13,
    StatusVhosts = 14,
    StatusEnd = 15,
    // dispatcher → worker
    Connection = 20,        // fd: a client connection
    Ping = 21,
    Resync = 22,            // a new dispatcher took the worker over: list your open connections
    // worker → dispatcher
    Closed = 30,            // connections done, with the requests each served
    Pong = 31,
    Open = 32,              // connections still open (the answer to Resync), in parts
    OpenEnd = 33,
}

/// <summary>Which way a message travels; each direction has its own list of allowed types.</summary>
public enum Direction { MasterToDispatcher, DispatcherToMaster, DispatcherToWorker, WorkerToDispatcher }

public abstract record Message
{
    public abstract MessageType Type { get; }
}

/// <summary>A bound listener; <see cref="Index"/> is its position in the snapshot's Listens.</summary>
public sealed record ListenerMessage(int Index) : Message { public override MessageType Type => MessageType.Listener; }
/// <summary>A worker's channel; <see cref="Adopted"/> when the worker already served a dispatcher that died (resync it).</summary>
public sealed record WorkerUpMessage(int PoolId, int Pid, bool Adopted = false) : Message { public override MessageType Type => MessageType.WorkerUp; }
public sealed record WorkerRefusedMessage(int PoolId, int RetryAfterMs, string Reason) : Message { public override MessageType Type => MessageType.WorkerRefused; }
public sealed record WorkerGoneMessage(int PoolId, int Pid) : Message { public override MessageType Type => MessageType.WorkerGone; }
public sealed record StatusRequestMessage(int Sequence) : Message { public override MessageType Type => MessageType.StatusRequest; }
public sealed record DrainMessage : Message { public override MessageType Type => MessageType.Drain; }
public sealed record NeedWorkerMessage(int PoolId) : Message { public override MessageType Type => MessageType.NeedWorker; }
public sealed record WorkerUnresponsiveMessage(int PoolId, int Pid, string Reason) : Message { public override MessageType Type => MessageType.WorkerUnresponsive; }
public sealed record WorkerRetiredMessage(int PoolId, int Pid) : Message { public override MessageType Type => MessageType.WorkerRetired; }

/// <summary>What the dispatcher knows of one worker: connections open now, passed, and requests served (as the worker reported).</summary>
public readonly record struct LinkCounters(int PoolId, int Pid, int Active, long Passed, long Requests);
public readonly record struct VhostCounter(int Vhost, int Active);

public sealed record StatusLinksMessage(int Sequence, LinkCounters[] Links) : Message
{
    public const int MaxItems = 128;
    public override MessageType Type => MessageType.StatusLinks;
}

public sealed record StatusVhostsMessage(int Sequence, VhostCounter[] Vhosts) : Message
{
    public const int MaxItems = 400;
    public override MessageType Type => MessageType.StatusVhosts;
}

public sealed record StatusEndMessage(int Sequence, long Accepted, long Timeouts, long Busy, long Refused, int OpenClients) : Message { public override MessageType Type => MessageType.StatusEnd; }

/// <summary>A client connection for a worker: the dispatcher's id for it and the vhost it picked.</summary>
public sealed record ConnectionMessage(long Id, int Vhost) : Message { public override MessageType Type => MessageType.Connection; }
public sealed record PingMessage(int Sequence) : Message { public override MessageType Type => MessageType.Ping; }

/// <summary>Connections a worker has finished: the id it was given and the requests served on it.</summary>
public sealed record ClosedMessage((long Id, int Requests)[] Connections) : Message
{
    public const int MaxItems = 256;
    public override MessageType Type => MessageType.Closed;
}

public sealed record PongMessage(int Sequence) : Message { public override MessageType Type => MessageType.Pong; }
public sealed record ResyncMessage : Message { public override MessageType Type => MessageType.Resync; }

/// <summary>Connections a worker still has open, with the vhost each was given for.</summary>
public sealed record OpenMessage((long Id, int Vhost)[] Connections) : Message
{
    public const int MaxItems = 256;
    public override MessageType Type => MessageType.Open;
}

public sealed record OpenEndMessage(int Count) : Message { public override MessageType Type => MessageType.OpenEnd; }

public sealed class ProtocolException(string message) : Exception(message);

/// <summary>Outcome of a non-blocking receive.</summary>
public enum ReceiveStatus { Message, WouldBlock, Closed }

/// <summary>The one encoder and the one decoder of <see cref="Message"/> records, with the per-direction type lists.</summary>
public static class Protocol
{
    /// <summary>The largest packet either end sends or accepts. Lists (status, reports) are split to fit.</summary>
    public const int MaxMessage = 4096;
    private const int MaxString = 1024;

    public static readonly IReadOnlyDictionary<Direction, IReadOnlySet<MessageType>> Allowed = new Dictionary<Direction, IReadOnlySet<MessageType>>
    {
        [Direction.MasterToDispatcher] = new HashSet<MessageType> { MessageType.Listener, MessageType.WorkerUp, MessageType.WorkerRefused, MessageType.WorkerGone, MessageType.StatusRequest, MessageType.Drain },
        [Direction.DispatcherToMaster] = new HashSet<MessageType> { MessageType.NeedWorker, MessageType.WorkerUnresponsive, MessageType.WorkerRetired, MessageType.StatusLinks, MessageType.StatusVhosts, MessageType.StatusEnd },
        [Direction.DispatcherToWorker] = new HashSet<MessageType> { MessageType.Connection, MessageType.Ping, MessageType.Resync, MessageType.Drain },
        [Direction.WorkerToDispatcher] = new HashSet<MessageType> { MessageType.Closed, MessageType.Pong, MessageType.Open, MessageType.OpenEnd },
    };

    /// <summary>The types that travel with exactly one descriptor; every other type travels with none.</summary>
    public static bool CarriesDescriptor(MessageType t) => t is MessageType.Listener or MessageType.WorkerUp or MessageType.Connection;

    /// <summary>Encodes <paramref name="m"/> into <paramref name="buffer"/> (at least <see cref="MaxMessage"/> bytes); returns the length.</summary>
    public static int Encode(Message m, Span<byte> buffer)
    {
        var w = new Writer(buffer[..Math.Min(buffer.Length, MaxMessage)]);
        w.U8((byte)m.Type);
        switch (m)
        {
            case ListenerMessage x: w.I32(x.Index); break;
            case WorkerUpMessage x: w.I32(x.PoolId); w.I32(x.Pid); w.U8(x.Adopted ? (byte)1 : (byte)0); break;
            case WorkerRefusedMessage x: w.I32(x.PoolId); w.I32(x.RetryAfterMs); w.Str(x.Reason); break;
            case WorkerGoneMessage x: w.I32(x.PoolId); w.I32(x.Pid); break;
            case StatusRequestMessage x: w.I32(x.Sequence); break;
            case DrainMessage: break;
            case NeedWorkerMessage x: w.I32(x.PoolId); break;
            case WorkerUnresponsiveMessage x: w.I32(x.PoolId); w.I32(x.Pid); w.Str(x.Reason); break;
            case WorkerRetiredMessage x: w.I32(x.PoolId); w.I32(x.Pid); break;
            case StatusLinksMessage x:
                if (x.Links.Length > StatusLinksMessage.MaxItems) throw new ArgumentException("too many links in one message");
                w.I32(x.Sequence); w.U16((ushort)x.Links.Length);
                foreach (var l in x.Links) { w.I32(l.PoolId); w.I32(l.Pid); w.I32(l.Active); w.I64(l.Passed); w.I64(l.Requests); }
                break;
            case StatusVhostsMessage x:
                if (x.Vhosts.Length > StatusVhostsMessage.MaxItems) throw new ArgumentException("too many vhosts in one message");
                w.I32(x.Sequence); w.U16((ushort)x.Vhosts.Length);
                foreach (var v in x.Vhosts) { w.I32(v.Vhost); w.I32(v.Active); }
                break;
            case StatusEndMessage x: w.I32(x.Sequence); w.I64(x.Accepted); w.I64(x.Timeouts); w.I64(x.Busy); w.I64(x.Refused); w.I32(x.OpenClients); break;
            case ConnectionMessage x: w.I64(x.Id); w.I32(x.Vhost); break;
            case PingMessage x: w.I32(x.Sequence); break;
            case ClosedMessage x:
                if (x.Connections.Length is 0 or > ClosedMessage.MaxItems) throw new ArgumentException("a Closed report holds 1..256 connections");
                w.U16((ushort)x.Connections.Length);
                foreach (var (id, n) in x.Connections) { w.I64(id); w.I32(n); }
                break;
            case PongMessage x: w.I32(x.Sequence); break;
            case ResyncMessage: break;
            case OpenMessage x:
                if (x.Connections.Length is 0 or > OpenMessage.MaxItems) throw new ArgumentException("an Open report holds 1..256 connections");
                w.U16((ushort)x.Connections.Length);
                foreach (var (id, vhost) in x.Connections) { w.I64(id); w.I32(vhost); }
                break;
            case OpenEndMessage x: w.I32(x.Count); break;
            default: throw new ArgumentException($"no encoding for {m.GetType().Name}");
        }
        return w.Length;
    }

    /// <summary>Decodes one packet that arrived in <paramref name="direction"/>; throws <see cref="ProtocolException"/> on anything else.</summary>
    public static Message Decode(ReadOnlySpan<byte> packet, bool hasDescriptor, Direction direction)
    {
        if (packet.Length == 0) throw new ProtocolException("empty message");
        var type = (MessageType)packet[0];
        if (!Allowed[direction].Contains(type)) throw new ProtocolException($"message type {packet[0]} is not allowed {direction}");
        if (hasDescriptor != CarriesDescriptor(type))
            throw new ProtocolException(hasDescriptor ? $"unexpected descriptor with {type}" : $"{type} without its descriptor");
        var r = new Reader(packet[1..]);
        Message m = type switch
        {
            MessageType.Listener => new ListenerMessage(r.I32()),
            MessageType.WorkerUp => new WorkerUpMessage(r.I32(), r.I32(), r.U8() switch { 0 => false, 1 => true, var b => throw new ProtocolException($"WorkerUp: adopted flag {b}") }),
            MessageType.WorkerRefused => new WorkerRefusedMessage(r.I32(), r.I32(), r.Str()),
            MessageType.WorkerGone => new WorkerGoneMessage(r.I32(), r.I32()),
            MessageType.StatusRequest => new StatusRequestMessage(r.I32()),
            MessageType.Drain => new DrainMessage(),
            MessageType.NeedWorker => new NeedWorkerMessage(r.I32()),
            MessageType.WorkerUnresponsive => new WorkerUnresponsiveMessage(r.I32(), r.I32(), r.Str()),
            MessageType.WorkerRetired => new WorkerRetiredMessage(r.I32(), r.I32()),
            MessageType.StatusLinks => DecodeLinks(ref r),
            MessageType.StatusVhosts => DecodeVhosts(ref r),
            MessageType.StatusEnd => new StatusEndMessage(r.I32(), r.I64(), r.I64(), r.I64(), r.I64(), r.I32()),
            MessageType.Connection => new ConnectionMessage(r.I64(), r.I32()),
            MessageType.Ping => new PingMessage(r.I32()),
            MessageType.Closed => DecodeClosed(ref r),
            MessageType.Pong => new PongMessage(r.I32()),
            MessageType.Resync => new ResyncMessage(),
            MessageType.Open => DecodeOpen(ref r),
            MessageType.OpenEnd => new OpenEndMessage(r.I32()),
            _ => throw new ProtocolException($"unknown message type {packet[0]}"),
        };
        if (!r.AtEnd) throw new ProtocolException($"{type}: {r.Left} trailing byte(s)");
        return m;
    }

    private static StatusLinksMessage DecodeLinks(ref Reader r)
    {
        int seq = r.I32(), n = r.U16();
        if (n > StatusLinksMessage.MaxItems) throw new ProtocolException("too many links");
        var links = new LinkCounters[n];
        for (int i = 0; i < n; i++) links[i] = new LinkCounters(r.I32(), r.I32(), r.I32(), r.I64(), r.I64());
        return new StatusLinksMessage(seq, links);
    }

    private static StatusVhostsMessage DecodeVhosts(ref Reader r)
    {
        int seq = r.I32(), n = r.U16();
        if (n > StatusVhostsMessage.MaxItems) throw new ProtocolException("too many vhosts");
        var vhosts = new VhostCounter[n];
        for (int i = 0; i < n; i++) vhosts[i] = new VhostCounter(r.I32(), r.I32());
        return new StatusVhostsMessage(seq, vhosts);
    }

    private static ClosedMessage DecodeClosed(ref Reader r)
    {
        int n = r.U16();
        if (n is 0 or > ClosedMessage.MaxItems) throw new ProtocolException($"a Closed report of {n} connections");
        var items = new (long, int)[n];
        for (int i = 0; i < n; i++) items[i] = (r.I64(), r.I32());
        return new ClosedMessage(items);
    }

    private static OpenMessage DecodeOpen(ref Reader r)
    {
        int n = r.U16();
        if (n is 0 or > OpenMessage.MaxItems) throw new ProtocolException($"an Open report of {n} connections");
        var items = new (long, int)[n];
        for (int i = 0; i < n; i++) items[i] = (r.I64(), r.I32());
        return new OpenMessage(items);
    }

    /// <summary>Sends one message (blocking when the channel is), with a descriptor when the type carries one.</summary>
    public static SendResult Send(int channel, Message m, int fd = -1, bool dontWait = false)
    {
        if (CarriesDescriptor(m.Type) != fd >= 0) throw new ArgumentException($"{m.Type} {(fd >= 0 ? "carries no descriptor" : "needs its descriptor")}");
        Span<byte> buffer = stackalloc byte[MaxMessage];
        int n = Encode(m, buffer);
        return FdPassing.Send(channel, buffer[..n], fd, dontWait);
    }

    /// <summary>
    /// Receives one message. <paramref name="buffer"/> must hold MaxMessage + 1 bytes (a longer
    /// packet is a protocol error, not a truncated message). A descriptor that came with a message
    /// that is then refused is closed here.
    /// </summary>
    public static ReceiveStatus Receive(int channel, Direction direction, byte[] buffer, bool dontWait, out Message? message, out int fd)
    {
        message = null;
        int n = FdPassing.Receive(channel, buffer.AsSpan(0, MaxMessage + 1), out fd, dontWait);
        if (n == FdPassing.WouldBlock) return ReceiveStatus.WouldBlock;
        if (n == 0 && fd < 0) return ReceiveStatus.Closed;
        try
        {
            if (n > MaxMessage) throw new ProtocolException($"a message of {n} bytes (at most {MaxMessage})");
            message = Decode(buffer.AsSpan(0, n), fd >= 0, direction);
            return ReceiveStatus.Message;
        }
        catch
        {
            if (fd >= 0) { Native.close(fd); fd = -1; }
            throw;
        }
    }

    private ref struct Writer(Span<byte> buffer)
    {
        private readonly Span<byte> _b = buffer;
        private int _n;
        public readonly int Length => _n;
        private Span<byte> Take(int size)
        {
            if (_n + size > _b.Length) throw new ArgumentException($"message longer than {_b.Length} bytes");
            var s = _b.Slice(_n, size);
            _n += size;
            return s;
        }
        public void U8(byte v) => Take(1)[0] = v;
        public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);
        public void I32(int v) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), v);
        public void I64(long v) => BinaryPrimitives.WriteInt64LittleEndian(Take(8), v);
        public void Str(string s)
        {
            if (s.Length > MaxString) s = s[..MaxString];
            int n = Encoding.UTF8.GetByteCount(s);
            U16((ushort)n);
            Encoding.UTF8.GetBytes(s, Take(n));
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> buffer)
    {
        private readonly ReadOnlySpan<byte> _b = buffer;
        private int _n;
        public readonly bool AtEnd => _n == _b.Length;
        public readonly int Left => _b.Length - _n;
        private ReadOnlySpan<byte> Take(int size)
        {
            if (_n + size > _b.Length) throw new ProtocolException("message shorter than its type requires");
            var s = _b.Slice(_n, size);
            _n += size;
            return s;
        }
        public byte U8() => Take(1)[0];
        public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
        public int I32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
        public string Str()
        {
            int n = U16();
            if (n > MaxString * 4) throw new ProtocolException("string too long");
            return Encoding.UTF8.GetString(Take(n));
        }
    }
}
