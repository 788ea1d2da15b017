using System.Text;
using ItkPs.Server.Privileged;

namespace ItkPs.Server;

/// <summary>Every message the roles exchange. Anything else is fatal for the peer that sent it.</summary>
public enum MessageType : byte
{
    // master → dispatcher
    Listener = 1,        // fd: a bound listening socket
    WorkerChannel = 2,   // fd: the dispatcher's end of a new worker's channel; fields: pool key, worker pid
    StatusRequest = 3,
    Drain = 4,           // stop accepting, let workers finish, exit
    WorkerFailed = 5,    // fields: pool key, reason (spawn refused or throttled)
    // dispatcher → master
    NeedWorker = 10,     // fields: user, group
    Status = 11,         // fields: JSON
    // dispatcher → worker
    Connection = 20,     // fd: a client connection; fields: connection id
    // worker → dispatcher
    Closed = 30,         // fields: (connection id, requests served on it) pairs, one or more
}

/// <summary>A typed message: its type, text fields, and an optional descriptor.</summary>
public sealed record Message(MessageType Type, string[] Fields, int Fd = -1)
{
    public const int BufferSize = 65536;

    public static Message Of(MessageType type, params string[] fields) => new(type, fields);

    public void Send(int channel)
    {
        var bytes = new List<byte> { (byte)Type };
        bytes.AddRange(Encoding.UTF8.GetBytes(string.Join('\n', Fields)));
        FdPassing.Send(channel, bytes.ToArray(), Fd);
    }

    /// <summary>
    /// Hands every message of a channel to <paramref name="handle"/> until the peer closes it.
    /// Protocol and I/O errors propagate: the caller decides what ends with the peer.
    /// </summary>
    public static void ReadAll(int channel, Action<Message> handle)
    {
        var buffer = new byte[BufferSize];
        for (var m = Receive(channel, buffer); m is not null; m = Receive(channel, buffer)) handle(m);
    }

    /// <summary>Null at end of stream; throws <see cref="ProtocolException"/> on an unknown type.</summary>
    public static Message? Receive(int channel, byte[] buffer)
    {
        int n = FdPassing.Receive(channel, buffer, out int fd);
        if (n == 0) { if (fd >= 0) Mono.Unix.Native.Syscall.close(fd); return null; }
        var type = (MessageType)buffer[0];
        if (!Enum.IsDefined(type)) { if (fd >= 0) Mono.Unix.Native.Syscall.close(fd); throw new ProtocolException($"unknown message type {buffer[0]}"); }
        string text = Encoding.UTF8.GetString(buffer, 1, n - 1);
        return new Message(type, text.Length == 0 ? [] : text.Split('\n'), fd);
    }
}

public sealed class ProtocolException(string message) : Exception(message);
