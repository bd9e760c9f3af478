using System.Reactive.Concurrency;
using System.Security.Cryptography;
using Rx.Netstack.Commands;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.Robustness;

/// <summary>
/// Many TCP connections between two stacks driven straight through the command channel (callbacks run on the engine's
/// scheduler, so under a <c>TestScheduler</c> everything is single-threaded and deterministic — no thread pool).
/// The server echoes every byte; each client sends rounds of pseudo-random messages derived from its port and reads the
/// echo back. Everything sent and received is hashed (SHA-256), so "intact" means byte for byte, in order.
/// </summary>
internal sealed class EchoTraffic
{
    private readonly Netstack _client, _server;
    private readonly NetEndpoint _serverEndpoint;
    private readonly int _messageSize;
    private readonly Func<bool> _keepGoing;
    private readonly TcpSettings? _settings;
    private readonly TimeSpan _roundGap;
    private SocketHandle _listener;

    /// <param name="roundGap">Virtual time between a round's echo and the next round: on a link without delay the rounds
    /// would otherwise follow each other at one instant forever.</param>
    public EchoTraffic(Netstack client, Netstack server, NetEndpoint serverEndpoint, int messageSize, Func<bool> keepGoing,
        TimeSpan roundGap, TcpSettings? settings = null)
    {
        _roundGap = roundGap;
        _client = client;
        _server = server;
        _serverEndpoint = serverEndpoint;
        _messageSize = messageSize;
        _keepGoing = keepGoing;
        _settings = settings;
    }

    public List<ClientSession> Clients { get; } = [];
    public List<string> Failures { get; } = [];
    public int ServersFinished { get; private set; }
    public int ServersAccepted { get; private set; }
    public long BytesEchoed { get; private set; }
    public bool Listening => _listener.IsValid;

    public int ClientsFinished => Clients.Count(c => c.Finished);

    /// <summary>Starts the listener and its accept loop.</summary>
    public void Listen(int backlog)
    {
        _server.Execute(new Command.TcpListen.Listen(_serverEndpoint, backlog, _settings)).Subscribe(reply =>
        {
            if (reply is Reply.Listening l)
            {
                _listener = l.Listener;
                AcceptNext();
            }
            else Failures.Add($"listen: {reply}");
        });
    }

    private void AcceptNext()
    {
        _server.Execute(new Command.TcpListen.Accept(_listener)).Subscribe(reply =>
        {
            if (reply is Reply.Accepted a)
            {
                ServersAccepted++;
                EchoNext(a.Socket);
                AcceptNext();
            }
            else if (reply is not Reply.Error { Detail.Kind: NetstackErrorKind.SocketClosed or NetstackErrorKind.StackDisposed })
                Failures.Add($"accept: {reply}");
        });
    }

    private void EchoNext(SocketHandle socket)
    {
        _server.Execute(new Command.TcpStream.Receive(socket)).Subscribe(reply =>
        {
            switch (reply)
            {
                case Reply.Data d:
                    BytesEchoed += d.Bytes.Length;
                    SendAll(_server, socket, d.Bytes, () => EchoNext(socket), Failures);
                    break;
                case Reply.EndOfStream:
                    _server.Execute(new Command.TcpStream.Close(socket)).Subscribe(_ => ServersFinished++);
                    break;
                default:
                    Failures.Add($"server receive: {reply}");
                    break;
            }
        });
    }

    private static void SendAll(Netstack stack, SocketHandle socket, ReadOnlyMemory<byte> data, Action then, List<string> failures)
    {
        stack.Execute(new Command.TcpStream.Send(socket, data)).Subscribe(reply =>
        {
            if (reply is Reply.Sent s)
            {
                if (s.Bytes == data.Length) then();
                else SendAll(stack, socket, data[s.Bytes..], then, failures);
            }
            else failures.Add($"send: {reply}");
        });
    }

    /// <summary>Opens <paramref name="count"/> connections; each runs rounds while <c>keepGoing</c> says so (at least one).</summary>
    public void Connect(int count)
    {
        for (int i = 0; i < count; i++)
        {
            var session = new ClientSession(this);
            Clients.Add(session);
            session.Start();
        }
    }

    /// <summary>One client: rounds of send a message, read its echo, then a graceful close.</summary>
    internal sealed class ClientSession(EchoTraffic owner)
    {
        private readonly IncrementalHash _sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly IncrementalHash _receivedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private SocketHandle _socket;
        private byte[] _message = [];
        private int _echoPending;
        private Random _random = new(0);

        public NetEndpoint Local { get; private set; }
        public int Rounds { get; private set; }
        public long BytesSent { get; private set; }
        public long BytesReceived { get; private set; }
        public bool Connected { get; private set; }
        public bool Finished { get; private set; }
        public bool Intact { get; private set; }

        public void Start() =>
            owner._client.Execute(new Command.TcpStream.Connect(owner._serverEndpoint, Settings: owner._settings)).Subscribe(reply =>
            {
                if (reply is not Reply.Connected c)
                {
                    owner.Failures.Add($"connect: {reply}");
                    return;
                }
                _socket = c.Socket;
                Local = c.Local;
                Connected = true;
                _random = new Random(c.Local.Port * 7919 + 1);
                _message = new byte[owner._messageSize];
                NextRound();
            });

        private void NextRound()
        {
            if (Rounds > 0 && !owner._keepGoing())
            {
                owner._client.Execute(new Command.TcpStream.ShutdownWrite(_socket)).Subscribe(_ => ReadToEnd());
                return;
            }
            Rounds++;
            _message = new byte[owner._messageSize]; // the engine reads the memory until the send completes: a fresh array a round
            _random.NextBytes(_message);
            _sentHash.AppendData(_message);
            BytesSent += _message.Length;
            _echoPending = _message.Length;
            SendAll(owner._client, _socket, _message, static () => { }, owner.Failures);
            ReadEcho();
        }

        private void ReadEcho() =>
            owner._client.Execute(new Command.TcpStream.Receive(_socket)).Subscribe(reply =>
            {
                if (reply is not Reply.Data d)
                {
                    owner.Failures.Add($"client receive: {reply}");
                    return;
                }
                _receivedHash.AppendData(d.Bytes.Span);
                BytesReceived += d.Bytes.Length;
                _echoPending -= d.Bytes.Length;
                if (_echoPending > 0) ReadEcho();
                else if (_echoPending == 0) owner._client.Scheduler.Schedule(this, owner._roundGap, static (_, self) =>
                {
                    self.NextRound();
                    return System.Reactive.Disposables.Disposable.Empty;
                });
                else owner.Failures.Add("more echoed than sent");
            });

        private void ReadToEnd() =>
            owner._client.Execute(new Command.TcpStream.Receive(_socket)).Subscribe(reply =>
            {
                switch (reply)
                {
                    case Reply.EndOfStream:
                        Intact = BytesSent == BytesReceived && _sentHash.GetHashAndReset().AsSpan().SequenceEqual(_receivedHash.GetHashAndReset());
                        owner._client.Execute(new Command.TcpStream.Close(_socket)).Subscribe(_ => Finished = true);
                        break;
                    default:
                        owner.Failures.Add($"client end: {reply}");
                        break;
                }
            });
    }
}
