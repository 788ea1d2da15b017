using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace ItkPs.Server;

/// <summary>
/// The master's control socket: mode 0600 in a directory only root can change, and every peer
/// checked to be root (SO_PEERCRED). One line in ("status"), one JSON document out. The JSON is
/// put together here, outside the monitor's message handling.
/// </summary>
public sealed class ControlServer : IDisposable
{
    private readonly Socket _socket;
    private readonly Func<Task<MasterStatus>> _status;

    public ControlServer(string path, Func<Task<MasterStatus>> status)
    {
        _status = status;
        _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        // Bound under a temporary name and renamed into place once it listens: whoever sees the
        // socket can connect to it.
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.Delete(temporary);
        var oldMask = Mono.Unix.Native.Syscall.umask(Mono.Unix.Native.FilePermissions.S_IRWXG | Mono.Unix.Native.FilePermissions.S_IRWXO);
        try { _socket.Bind(new UnixDomainSocketEndPoint(temporary)); }
        finally { Mono.Unix.Native.Syscall.umask(oldMask); }
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _socket.Listen(16);
        File.Move(temporary, path, overwrite: true);
        _ = Task.Run(AcceptLoop);
    }

    private async Task AcceptLoop()
    {
        while (true)
        {
            Socket c;
            try { c = await _socket.AcceptAsync(); } catch (Exception) { return; }
            _ = Task.Run(() => Answer(c));
        }
    }

    private static int PeerUid(Socket s)
    {
        var cred = new byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        try { s.GetRawSocketOption(1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, cred); }
        catch (SocketException) { return -1; }
        return BitConverter.ToInt32(cred, 4);
    }

    private async Task Answer(Socket client)
    {
        using (client)
        {
            try
            {
                if (PeerUid(client) != 0) return; // the socket is 0600; a peer that is not root got here some other way
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                var buffer = new byte[256];
                int n = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                string command = Encoding.ASCII.GetString(buffer, 0, n).Trim();
                Log.Write(LogEvent.ControlRequest, command);
                string reply = command == "status"
                    ? JsonSerializer.Serialize(await _status(), ServerJson.Default.MasterStatus)
                    : JsonSerializer.Serialize(new ControlError($"unknown command '{command}'"), ServerJson.Default.ControlError);
                await client.SendAsync(Encoding.UTF8.GetBytes(reply + "\n"));
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or IOException) { }
        }
    }

    public void Dispose() => _socket.Dispose();
}
