namespace ItkPs.Server.Privileged;

/// <summary>
/// Outcome of a send: taken by the kernel, the peer's queue is full (non-blocking), the peer is
/// gone, or the sender already has as many descriptors in flight as its limit allows (stopped
/// peers hold some; it passes when they are taken or their holders die).
/// </summary>
public enum SendResult { Sent, WouldBlock, PeerGone, TooManyInFlight }

/// <summary>
/// Packets with at most one descriptor (SCM_RIGHTS) over AF_UNIX SOCK_SEQPACKET pairs: the only
/// place that passes descriptors. The master sends listeners and worker channels to the dispatcher;
/// the dispatcher sends client connections to workers. Received descriptors are close-on-exec
/// (MSG_CMSG_CLOEXEC), so nothing a worker starts can inherit one.
/// </summary>
public static unsafe class FdPassing
{
    public const int WouldBlock = -1;

    /// <summary>A connected pair of SEQPACKET sockets, both close-on-exec; the spawner maps the child's end explicitly.</summary>
    public static (int A, int B) SocketPair()
    {
        int* fds = stackalloc int[2];
        if (Native.socketpair(Native.AF_UNIX, Native.SOCK_SEQPACKET | Native.SOCK_CLOEXEC, 0, fds) != 0)
            throw new IOException($"socketpair: {Native.Error()}");
        return (fds[0], fds[1]);
    }

    /// <summary>Caps how much a peer may leave unread on this end (the kernel doubles the value).</summary>
    public static void LimitSendBuffer(int fd, int bytes)
    {
        int v = bytes;
        Native.setsockopt(fd, Native.SOL_SOCKET, Native.SO_SNDBUF, &v, sizeof(int));
    }

    /// <summary>Sends a packet with one descriptor when <paramref name="fd"/> is not -1.</summary>
    public static SendResult Send(int channel, ReadOnlySpan<byte> payload, int fd = -1, bool dontWait = false)
    {
        if (payload.Length is 0 or > Protocol.MaxMessage) throw new ArgumentException($"payload must be 1..{Protocol.MaxMessage} bytes");
        byte* control = stackalloc byte[24]; // CMSG_SPACE(sizeof(int))
        fixed (byte* p = payload)
        {
            var iov = new Native.IoVec { Base = p, Length = (nuint)payload.Length };
            var msg = new Native.MsgHdr { Iov = &iov, IovLength = 1 };
            if (fd >= 0)
            {
                new Span<byte>(control, 24).Clear();
                var c = (Native.CmsgHdr*)control;
                c->Length = 20; // CMSG_LEN(sizeof(int))
                c->Level = Native.SOL_SOCKET;
                c->Type = Native.SCM_RIGHTS;
                *(int*)(control + 16) = fd;
                msg.Control = control;
                msg.ControlLength = 24;
            }
            int flags = Native.MSG_NOSIGNAL | (dontWait ? Native.MSG_DONTWAIT : 0);
            while (true)
            {
                nint sent = Native.sendmsg(channel, &msg, flags);
                if (sent >= 0) return SendResult.Sent;
                int e = Native.Errno;
                if (e == Native.EINTR) continue;
                if (e == Native.EAGAIN) return SendResult.WouldBlock;
                if (e == Native.ETOOMANYREFS) return SendResult.TooManyInFlight;
                if (e is Native.EPIPE or Native.ECONNRESET or Native.ENOTCONN) return SendResult.PeerGone;
                throw new IOException($"sendmsg: {Native.ErrorText(e)}");
            }
        }
    }

    /// <summary>
    /// Receives one packet into <paramref name="buffer"/>; returns its full length (0 at end of
    /// stream, <see cref="WouldBlock"/> when non-blocking and nothing is there). A length over the
    /// buffer means the packet did not fit. More than one descriptor is a protocol error (all are closed).
    /// </summary>
    public static int Receive(int channel, Span<byte> buffer, out int fd, bool dontWait = false)
    {
        fd = -1;
        byte* control = stackalloc byte[64];
        fixed (byte* p = buffer)
        {
            var iov = new Native.IoVec { Base = p, Length = (nuint)buffer.Length };
            var msg = new Native.MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = 64 };
            nint got;
            int flags = Native.MSG_CMSG_CLOEXEC | Native.MSG_TRUNC | (dontWait ? Native.MSG_DONTWAIT : 0);
            while (true)
            {
                got = Native.recvmsg(channel, &msg, flags);
                if (got >= 0) break;
                int e = Native.Errno;
                if (e == Native.EINTR) continue;
                if (e == Native.EAGAIN) return WouldBlock;
                if (e == Native.ECONNRESET) return 0;
                throw new IOException($"recvmsg: {Native.ErrorText(e)}");
            }
            int count = 0;
            for (byte* h = msg.ControlLength >= (nuint)sizeof(Native.CmsgHdr) ? control : null; h != null;)
            {
                var c = (Native.CmsgHdr*)h;
                if (c->Length < 16 || h + (long)c->Length > control + (long)msg.ControlLength) break;
                if (c->Level == Native.SOL_SOCKET && c->Type == Native.SCM_RIGHTS)
                    for (int i = 0; i < ((int)c->Length - 16) / sizeof(int); i++)
                    {
                        int received = ((int*)(h + 16))[i];
                        if (count++ == 0) fd = received;
                        else Native.close(received);
                    }
                byte* next = h + (((long)c->Length + 7) & ~7L);
                h = next + sizeof(Native.CmsgHdr) <= control + (long)msg.ControlLength ? next : null;
            }
            if (count > 1 || (msg.Flags & Native.MSG_CTRUNC) != 0)
            {
                if (fd >= 0) Native.close(fd);
                fd = -1;
                throw new ProtocolException(count > 1 ? $"{count} descriptors in one message" : "descriptors cut off (MSG_CTRUNC)");
            }
            return (int)got;
        }
    }
}
