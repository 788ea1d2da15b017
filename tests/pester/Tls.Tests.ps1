# HTTPS and HTTP/2 with itkd, real users and real clients: openssl s_client, curl, nghttp, node's
# http2 module, testssl.sh, Apache + mpm-itk + mod_ssl as the reference, lego against pebble for
# ACME. Loopback only, ports 18640-18669, users itks-*; every process started here is stopped by
# its pid. The whole run is traced (strace, openat and clone only) so that the last Describe can
# say which processes ever opened a certificate or a key. Each Describe says what it proves.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:TlsPort = 18643; $script:PlainPort = 18680; $script:ApachePort = 18644; $script:BadPort = 18646
    $script:AcmePort = 18650; $script:AcmeManagement = 18651; $script:DnsPort = 18653; $script:DnsManagement = 18655
    $script:Base = "/tmp/itkps-tls-pester-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    New-Item -ItemType Directory $Base | Out-Null
    chmod 0755 $Base
    $script:Root = "$Base/etc"; $script:Www = "$Base/www"; $script:Pki = "$Base/pki"
    $script:Sock = "$Base/itkd.sock"; $script:LogFile = "$Base/itkd.log"; $script:Trace = "$Base/strace.log"
    New-Item -ItemType Directory $Www, $Pki | Out-Null
    chmod 0755 $Www
    chmod 0700 $Pki
    New-TestUser 'itks-a'; New-TestUser 'itks-b'

    # A test CA, and one P-256 certificate per name, signed by it.
    & openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$Pki/ca.key" -out "$Pki/ca.pem" -days 30 -subj '/CN=itks test CA' 2>$null
    function New-TestCertificate([string] $Name, [string[]] $Dns, [string] $Ip) {
        & openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$Pki/$Name.key" -out "$Pki/$Name.csr" -subj "/CN=$($Dns[0] ?? $Ip)" 2>$null
        $san = @($Dns | Where-Object { $_ } | ForEach-Object { "DNS:$_" }) + @($Ip | Where-Object { $_ } | ForEach-Object { "IP:$_" })
        "subjectAltName=$($san -join ',')" | Set-Content "$Pki/$Name.ext"
        & openssl x509 -req -in "$Pki/$Name.csr" -CA "$Pki/ca.pem" -CAkey "$Pki/ca.key" -CAcreateserial -days 30 -out "$Pki/$Name.crt" -extfile "$Pki/$Name.ext" 2>$null
        if ($LASTEXITCODE -ne 0) { throw "openssl could not sign $Name" }
    }
    $script:Fingerprint = @{}
    function Get-FileFingerprint([string] $Path) { ((& openssl x509 -in $Path -noout -fingerprint -sha256) -replace '^.*=', '').Trim() }
    # s_client with this SNI (none: -noservername); the served leaf's SHA-256 fingerprint, or '' without a handshake.
    function Get-ServedFingerprint([int] $Port, [string] $Sni) {
        $a = @('s_client', '-connect', "127.0.0.1:$Port") + ($Sni ? @('-servername', $Sni) : @('-noservername'))
        $pem = '' | & openssl @a 2>$null
        (($pem | & openssl x509 -noout -fingerprint -sha256 2>$null) -replace '^.*=', '').Trim()
    }
    function Get-ServedIssuer([int] $Port, [string] $Sni) {
        $pem = '' | & openssl s_client -connect "127.0.0.1:$Port" -servername $Sni 2>$null
        ($pem | & openssl x509 -noout -issuer 2>$null) -join ''
    }
    # curl over TLS with this SNI and Host; status, protocol version and body.
    function Invoke-Https([string] $Sni, [string] $HostHeader, [string] $Path = '/', [int] $Port = $TlsPort, [string[]] $Extra = @('--http1.1')) {
        $url = $Sni ? "https://$($Sni):$Port$Path" : "https://127.0.0.1:$Port$Path"
        $a = @('-s', '-k', '-o', "$Base/body", '-w', '%{http_code} %{http_version}') + $Extra
        if ($Sni) { $a += '--resolve', "$($Sni):$($Port):127.0.0.1" }
        if ($HostHeader) { $a += '-H', "Host: $HostHeader" }
        $code, $version = (& curl @a $url) -split ' '
        [pscustomobject]@{ Status = [int]$code; Version = $version; Body = (Get-Content -Raw "$Base/body" -ErrorAction SilentlyContinue) }
    }

    New-TestCertificate 'a' 'a.itks.test', 'www.a.itks.test'
    New-TestCertificate 'a2' 'a2.itks.test'
    New-TestCertificate 's' 's.itks.test'
    New-TestCertificate 'b' 'b.itks.test'
    New-TestCertificate 'a2-new' 'a2.itks.test'
    New-TestCertificate 'pebble' 'localhost' '127.0.0.1'
    Copy-Item "$Pki/ca.pem" "$Base/ca.pem"; chmod 0644 "$Base/ca.pem" # lego, as the site's user, trusts pebble by it
    foreach ($n in 'a', 'a2', 's', 'b', 'a2-new') { $Fingerprint[$n] = Get-FileFingerprint "$Pki/$n.crt" }

    # Four TLS vhosts on one address (a first: the default), written and installed by New-ItkVhost;
    # a, a2 and s are tenant a's, b tenant b's. a and b also have a cleartext vhost (h2c, ACME).
    $sites = @(('a.itks.test', 'a', 'itks-a', @('www.a.itks.test')), ('a2.itks.test', 'a2', 'itks-a', @()), ('s.itks.test', 's', 'itks-a', @()), ('b.itks.test', 'b', 'itks-b', @()))
    foreach ($s in $sites) {
        $name, $cert, $user, $aliases = $s
        $d = "$Www/$cert"
        New-Item -ItemType Directory -Force $d | Out-Null
        Set-Content "$d/index.html" "index of tenant $cert"
        New-ItkVhost -ConfigRoot $Root -Name $name -DocumentRoot $d -Alias $aliases -Listen "127.0.0.1:$TlsPort" -User $user `
            -CertificateFile "$Pki/$cert.crt" -KeyFile "$Pki/$cert.key" -WarningAction SilentlyContinue | Out-Null
        Set-ItkUser -ConfigRoot $Root -Name $name -User $user -FixPermissions | Out-Null
    }
    $sFile = "$Root/vhosts.d/s.itks.test-ssl.conf"
    (Get-Content -Raw $sFile) -replace '</VirtualHost>', "    SSLStrictSNIVHostCheck on`n    Protocols http/1.1`n    SSLProtocol -all +TLSv1.3`n    SSLCipherSuite TLSv1.3 TLS_CHACHA20_POLY1305_SHA256`n</VirtualHost>" | Set-Content $sFile -NoNewline
    # the cleartext side of a and b, in files of their own beside the -ssl ones
    foreach ($t in 'a', 'b') {
        New-ItkVhost -ConfigRoot $Root -Name "$t.itks.test" -DocumentRoot "$Www/$t" -Listen "127.0.0.1:$PlainPort" -User "itks-$t" | Out-Null
        $plain = "$Root/vhosts.d/$t.itks.test.conf"
        (Get-Content -Raw $plain) -replace '</VirtualHost>', "    Protocols h2c http/1.1`n</VirtualHost>" | Set-Content $plain -NoNewline
    }
    Add-Content "$Root/itkps.conf" 'RequestReadTimeout header=2'

    # itkd under strace: which process opens what (successful openat, and the clones to tell threads from processes).
    $itkd = Join-Path (Split-Path $env:ITKPS_MODULE_PATH) 'itkd/itkd'
    $wrapper = "$Base/itkd-traced"
    "#!/bin/sh`nexec strace -f -z -qq --seccomp-bpf -s 4096 -e trace=openat,clone,clone3,fork,vfork -o '$Trace' '$itkd' `"`$@`"" | Set-Content $wrapper
    chmod 0755 $wrapper
    $script:Server = Start-ItkServer -ConfigRoot $Root -ControlSocket $Sock -LogPath $LogFile -ItkdPath $wrapper -PassThru
    $script:DispatcherPid = $Server.DispatcherPid
}

AfterAll {
    foreach ($p in @($script:Pebble, $script:ChallengeDns)) { if ($p -and -not $p.HasExited) { $p.Kill(); $p.WaitForExit(5000) | Out-Null } }
    if (Test-Path "$Base/apache.pid") { kill -TERM ([int](Get-Content "$Base/apache.pid")) 2>$null }
    if ($Server -and (Get-Process -Id $Server.Pid -ErrorAction SilentlyContinue)) {
        kill -TERM $Server.Pid
        Wait-Process -Id $Server.Pid -Timeout 30 -ErrorAction SilentlyContinue
    }
    Remove-TestUser 'itks-a', 'itks-b'
    if (-not $env:ITKPS_KEEP_TEST_FILES) { Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue }
}

Describe 'Each tenant gets its own certificate by SNI (openssl s_client -servername)' {
    It 'serves each vhost the certificate installed for it' {
        (Get-ServedFingerprint $TlsPort 'a.itks.test') | Should -Be $Fingerprint['a']
        (Get-ServedFingerprint $TlsPort 'b.itks.test') | Should -Be $Fingerprint['b']
        (Get-ServedFingerprint $TlsPort 'a2.itks.test') | Should -Be $Fingerprint['a2']
        (Get-ServedFingerprint $TlsPort 'WWW.A.ITKS.TEST.') | Should -Be $Fingerprint['a'] -Because 'SNI is matched as Apache matches names: case and a trailing dot do not count'
    }

    It 'gives a client without SNI, or with a name no vhost has, the first vhost of the address' {
        (Get-ServedFingerprint $TlsPort '') | Should -Be $Fingerprint['a']
        (Get-ServedFingerprint $TlsPort 'nobody.itks.test') | Should -Be $Fingerprint['a']
    }
}

Describe 'ALPN picks h2 or http/1.1 (curl, nghttp)' {
    It 'speaks h2 to a client that offers it and http/1.1 to one that does not' {
        $h2 = Invoke-Https 'b.itks.test' $null '/' -Extra @('--http2')
        ($h2.Status, $h2.Version) | Should -Be @(200, '2')
        $h2.Body | Should -Match 'index of tenant b'
        $h1 = Invoke-Https 'b.itks.test' $null '/' -Extra @('--http1.1')
        ($h1.Status, $h1.Version) | Should -Be @(200, '1.1')
    }

    It 'negotiates h2 with nghttp' {
        $out = & nghttp -nv -H ':authority: a.itks.test' "https://127.0.0.1:$TlsPort/" 2>&1
        ($out -join "`n") | Should -Match 'The negotiated protocol: h2'
        ($out -join "`n") | Should -Match ':status: 200'
    }

    It 'honours SSLProtocol and SSLCipherSuite TLSv1.3 per vhost' {
        function Test-Handshake([string[]] $Options) { ('' | & openssl s_client -connect "127.0.0.1:$TlsPort" -servername s.itks.test @Options 2>&1) -join "`n" }
        (Test-Handshake @('-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256')) | Should -Match 'Cipher is TLS_CHACHA20_POLY1305_SHA256'
        (Test-Handshake @('-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256')) | Should -Not -Match 'Cipher is TLS_AES_128'
        (Test-Handshake @('-tls1_2')) | Should -Match 'alert protocol version' -Because 's says SSLProtocol -all +TLSv1.3'
        ('' | & openssl s_client -connect "127.0.0.1:$TlsPort" -servername a.itks.test -tls1_2 2>&1) -join "`n" | Should -Match 'Cipher is ECDHE-ECDSA' -Because 'a keeps the default protocols'
    }

    It 'offers only http/1.1 where the vhost says "Protocols http/1.1"' {
        $r = Invoke-Https 's.itks.test' $null '/' -Extra @('--http2')
        ($r.Status, $r.Version) | Should -Be @(200, '1.1')
    }
}

Describe 'Each key is readable and held only by its site' {
    It 'installs the pair in a folder of the site user: folder 0700, key 0600' {
        foreach ($s in @(('a.itks.test', 'itks-a'), ('b.itks.test', 'itks-b'))) {
            (& stat -c '%U %a' "$Root/tls/$($s[0])") | Should -Be "$($s[1]) 700"
            (& stat -c '%U %a' "$Root/tls/$($s[0])/key.pem") | Should -Be "$($s[1]) 600"
        }
    }

    It 'the dispatcher''s account cannot read any key, and holds none open' {
        foreach ($site in 'a.itks.test', 'a2.itks.test', 's.itks.test', 'b.itks.test') {
            $r = Invoke-AsUser 'itkd' @('cat', "$Root/tls/$site/key.pem")
            $r.ExitCode | Should -Not -Be 0
            $r.Output | Should -Match 'Permission denied'
        }
        $open = Get-ChildItem "/proc/$DispatcherPid/fd" | ForEach-Object { $_.LinkTarget }
        $open | Where-Object { $_ -like "$Root/tls/*" } | Should -BeNullOrEmpty
    }

    It 'tenant a cannot read tenant b''s key: a swap of its own key for a link to b''s is refused with EACCES, a keeps its pair and b keeps working' {
        $aKey = "$Root/tls/a.itks.test/key.pem"
        (Invoke-AsUser 'itks-a' @('cat', "$Root/tls/b.itks.test/key.pem")).Output | Should -Match 'Permission denied'
        # the hostile tenant owns its folder: it may put anything there
        (Invoke-AsUser 'itks-a' @('ln', '-sfn', "$Root/tls/b.itks.test/key.pem", "$Root/tls/a.itks.test/key.new")).ExitCode | Should -Be 0
        (Invoke-AsUser 'itks-a' @('mv', '-fT', "$Root/tls/a.itks.test/key.new", $aKey)).ExitCode | Should -Be 0
        Wait-Until { (Get-Content -Raw $LogFile) -match 'worker itks-a uid=\d+ E3013 CertificateFailed: a\.itks\.test: the changed certificate .* (Permission denied|EACCES)' } -TimeoutSeconds 15 -What 'a''s worker to fail to read b''s key'
        (Get-ServedFingerprint $TlsPort 'a.itks.test') | Should -Be $Fingerprint['a'] -Because 'the old pair keeps serving'
        (Invoke-Https 'b.itks.test' $null).Status | Should -Be 200
        (Get-ServedFingerprint $TlsPort 'b.itks.test') | Should -Be $Fingerprint['b']
        # and the operator puts the pair back
        Set-ItkCertificate -ConfigRoot $Root -Name a.itks.test -CertificateFile "$Pki/a.crt" -KeyFile "$Pki/a.key" -WarningAction SilentlyContinue
        (& stat -c '%F %U %a' $aKey) | Should -Be 'regular file itks-a 600'
    }

    It 'refuses a key with mode 0644 at start-up with file:line, as Test-ItkConfig and Test-ItkVhost do, without holding the other sites back' {
        $bad = "$Base/bad"
        New-ItkVhost -ConfigRoot $bad -Name b.itks.test -DocumentRoot "$Www/b" -Listen "127.0.0.1:$BadPort" -User itks-b -CertificateFile "$Pki/b.crt" -KeyFile "$Pki/b.key" | Out-Null
        $key = "$bad/tls/b.itks.test/key.pem"
        chmod 0644 $key
        $vhostFile = "$bad/vhosts.d/b.itks.test-ssl.conf"
        $line = (Select-String -Path $vhostFile -Pattern 'SSLCertificateKeyFile').LineNumber
        # The key is the tenant's file: a tenant's chmod must not stop every site from starting.
        $server = Start-ItkServer -ConfigRoot $bad -ControlSocket "$bad/itkd.sock" -LogPath "$bad/itkd.log" -PassThru -ErrorAction Stop
        try {
            (Get-Content -Raw "$bad/itkd.log") | Should -Match "$([regex]::Escape($vhostFile)):$($line): error: .*readable by everyone \(mode 0644\).*The key is refused"
            # and refused it is: b's handshake fails, its worker says why
            & curl -s -o /dev/null --max-time 5 -k --resolve "b.itks.test:$($BadPort):127.0.0.1" "https://b.itks.test:$BadPort/"
            $LASTEXITCODE | Should -Not -Be 0
            Wait-Until { (Get-Content -Raw "$bad/itkd.log") -match 'worker itks-b uid=\d+ E3013 CertificateFailed: b\.itks\.test: .*the key is refused: .*readable by everyone' } -What 'the worker to refuse the key'
        } finally {
            kill -TERM $server.Pid
            Wait-Process -Id $server.Pid -Timeout 30 -ErrorAction SilentlyContinue
        }
        $e = @(Test-ItkConfig -ConfigRoot $bad | Where-Object Severity -eq 'Error')
        $e.Count | Should -Be 1
        ($e[0].File, $e[0].Line) | Should -Be @($vhostFile, $line)
        $finding = Test-ItkVhost -ConfigRoot $bad -Name b.itks.test | Where-Object Path -eq $key
        $finding.Problem | Should -Be 'WorldReadable'
        $finding.Severity | Should -Be 'High'
    }
}

Describe 'Misdirected requests get 421, on HTTP/1.1 and per HTTP/2 stream' {
    It 'answers SNI of a with Host of b with 421 on HTTP/1.1 and closes the connection' {
        $out = & curl -s -k -i --http1.1 --resolve "a.itks.test:$($TlsPort):127.0.0.1" -H 'Host: b.itks.test' "https://a.itks.test:$TlsPort/"
        $out[0] | Should -Match '^HTTP/1.1 421'
        ($out -join "`n") | Should -Match '(?im)^connection: close'
        ($out -join "`n") | Should -Not -Match 'tenant b'
    }

    It 'refuses b''s stream with 421 and serves a''s next streams on the same h2 connection (node http2)' {
        $lines = & node (Join-Path $PSScriptRoot 'tls/h2-streams.js') $TlsPort 'a.itks.test' 'b.itks.test' 'a.itks.test' 'a2.itks.test' 'www.a.itks.test' | ForEach-Object { $_ | ConvertFrom-Json }
        $lines[0].status | Should -Be 421 -Because 'b belongs to another user'
        $lines[1].status | Should -Be 200
        $lines[1].body | Should -Be 'index of tenant a'
        $lines[2].status | Should -Be 421 -Because 'a2 is the same user''s but a''s certificate does not cover it'
        $lines[3].status | Should -Be 200 -Because 'www.a is in a''s certificate'
        $lines[4].open | Should -BeTrue -Because 'a 421 ends a stream, never the connection'
    }

    It 'treats a client without SNI by the first vhost''s certificate; SSLStrictSNIVHostCheck gives 403' {
        (Invoke-Https $null 'a.itks.test').Status | Should -Be 200
        (Invoke-Https $null 'b.itks.test').Status | Should -Be 421
        (Invoke-Https $null 's.itks.test').Status | Should -Be 403
        (Invoke-Https 's.itks.test' 's.itks.test').Status | Should -Be 200
    }
}

Describe 'TLS session tickets never resume into another user''s site' {
    It 'resumes <Protocol> with the same SNI and makes a full handshake with SNI of another user' -ForEach @(@{ Protocol = 'tls1_3' }, @{ Protocol = 'tls1_2' }) {
        $session = "$Base/session-$Protocol.pem"
        "GET / HTTP/1.1`r`nHost: a.itks.test`r`nConnection: close`r`n`r`n" | & openssl s_client "-$Protocol" -connect "127.0.0.1:$TlsPort" -servername a.itks.test -sess_out $session -ign_eof 2>&1 | Out-Null
        Test-Path $session | Should -BeTrue
        $same = ('' | & openssl s_client "-$Protocol" -connect "127.0.0.1:$TlsPort" -servername a.itks.test -sess_in $session 2>&1) -join "`n"
        $same | Should -Match '(?m)^Reused, TLSv1\.[23]' -Because 'resumption works, so the next check can fail'
        $other = ('' | & openssl s_client "-$Protocol" -connect "127.0.0.1:$TlsPort" -servername b.itks.test -sess_in $session 2>&1) -join "`n"
        $other | Should -Match '(?m)^New, TLSv1\.[23]'
        $other | Should -Not -Match '(?m)^Reused'
    }
}

Describe 'Connections end with close_notify, so OpenSSL clients keep their sessions' {
    It 'lets openssl s_time resume every connection after the server closed the previous one (HTTP/1.0)' {
        # an end without close_notify is an "unexpected EOF" to OpenSSL, which then drops the session;
        # s_time prints one mark per connection: "r" resumed, "*" a full handshake
        $marks = (& openssl s_time -connect "127.0.0.1:$TlsPort" -www / -reuse -time 1 2>&1 | Where-Object { $_ -match '^[r*]+$' }) -join ''
        $marks.Length | Should -BeGreaterThan 10
        $marks | Should -Not -Match '\*' -Because 'a "*" is a connection that could not resume'
    }
}

Describe 'Malformed and split ClientHellos never crash the dispatcher nor block other connections' {
    BeforeAll {
        # a real ClientHello, as openssl sends it
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 18661)
        $listener.Start()
        $client = Start-Tool 'openssl' @('s_client', '-connect', '127.0.0.1:18661', '-servername', 'b.itks.test') "$Base/s_client.out"
        $conn = $listener.AcceptTcpClient()
        $conn.ReceiveTimeout = 5000
        $buffer = [byte[]]::new(65536); $n = 0
        while ($n -lt 5 -or $n -lt 5 + ($buffer[3] * 256 + $buffer[4])) { $n += $conn.GetStream().Read($buffer, $n, $buffer.Length - $n) }
        $script:Hello = $buffer[0..($n - 1)]
        $conn.Dispose(); $listener.Stop(); $client.Kill(); $client.WaitForExit()
        function Send-Raw([byte[]] $Bytes, [int] $ReadMs = 3000) {
            $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $TlsPort)
            try {
                $s = $c.GetStream(); $s.Write($Bytes, 0, $Bytes.Length); $c.ReceiveTimeout = $ReadMs
                $got = [byte[]]::new(4096); $r = 0
                try { while (($k = $s.Read($got, $r, $got.Length - $r)) -gt 0) { $r += $k } } catch { }
                if ($r -gt 0) { $got[0..($r - 1)] } else { @() }
            } finally { $c.Dispose() }
        }
    }

    It 'survives every prefix of a real ClientHello (each sent, then closed)' {
        for ($i = 1; $i -lt $Hello.Count; $i++) {
            $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $TlsPort)
            $c.GetStream().Write($Hello, 0, $i)
            $c.Dispose()
        }
        (Invoke-Https 'b.itks.test' $null).Status | Should -Be 200
        (Get-ItkServer -ControlSocket $Sock).DispatcherPid | Should -Be $DispatcherPid
    }

    It 'completes a handshake whose ClientHello came in 1-byte records, or cut after 5 bytes and a 200 ms gap, with the certificate its SNI names' -ForEach @(@{ Mode = 'records1'; Port = 18662 }, @{ Mode = 'gap'; Port = 18663 }) {
        $proxy = Start-Tool 'node' @((Join-Path $PSScriptRoot 'tls/fragment-proxy.js'), "$Port", "$TlsPort", $Mode) "$Base/proxy-$Mode.out"
        try {
            Wait-Until { try { [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port).Dispose(); $true } catch { $false } } -What 'the proxy'
            (Get-ServedFingerprint $Port 'b.itks.test') | Should -Be $Fingerprint['b']
        } finally { $proxy.Kill(); $proxy.WaitForExit() }
    }

    It 'serves others while a client sits on 5 bytes, and closes that client after the head timeout (2 s)' {
        $slow = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $TlsPort)
        try {
            $slow.GetStream().Write($Hello, 0, 5)
            $clock = [Diagnostics.Stopwatch]::StartNew()
            (Invoke-Https 'a.itks.test' $null).Status | Should -Be 200
            $clock.ElapsedMilliseconds | Should -BeLessThan 1500
            $slow.ReceiveTimeout = 8000
            try { $slow.GetStream().Read([byte[]]::new(16), 0, 16) | Out-Null } catch { }
            $clock.Elapsed.TotalSeconds | Should -BeGreaterThan 1.5
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 6
        } finally { $slow.Dispose() }
    }

    It 'answers an SSLv2-style hello and junk with a fatal TLS alert, and plain HTTP with 400' {
        $v2 = Send-Raw ([byte[]](0x80, 0x2e, 0x01, 0x03, 0x01) + [byte[]]::new(40))
        ($v2[0], $v2[5], $v2[6]) | Should -Be @(21, 2, 70) -Because 'alert, fatal, protocol_version'
        $junk = Send-Raw ([byte[]](22, 3, 1, 0, 5, 2, 0, 0, 1, 0))
        ($junk[0], $junk[5], $junk[6]) | Should -Be @(21, 2, 10) -Because 'alert, fatal, unexpected_message (not a ClientHello)'
        $plain = (& curl -s -w ' %{http_code}' "http://127.0.0.1:$TlsPort/") -join ' '
        $plain | Should -Match 'plain HTTP to a TLS port.* 400$'
        (Get-ItkServer -ControlSocket $Sock).DispatcherPid | Should -Be $DispatcherPid
    }
}

Describe 'Renewal: files replaced on disk are served within seconds, without a restart' {
    It 'serves a new pair for a2 within a few seconds, from the same worker' {
        $before = (Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq 'itks-a'
        $clock = [Diagnostics.Stopwatch]::StartNew()
        Set-ItkCertificate -ConfigRoot $Root -Name a2.itks.test -CertificateFile "$Pki/a2-new.crt" -KeyFile "$Pki/a2-new.key"
        Wait-Until { (Get-ServedFingerprint $TlsPort 'a2.itks.test') -eq $Fingerprint['a2-new'] } -TimeoutSeconds 10 -What 'the renewed certificate'
        Write-Host "renewed certificate served after $([int]$clock.Elapsed.TotalMilliseconds) ms"
        ((Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq 'itks-a').WorkerPids | Should -Be $before.WorkerPids
    }

    It 'keeps the old pair when the new certificate does not match the key, and logs why' {
        Copy-Item "$Pki/b.crt" "$Base/foreign.crt"; chmod 0644 "$Base/foreign.crt"
        (Invoke-AsUser 'itks-a' @('cp', "$Base/foreign.crt", "$Root/tls/a2.itks.test/cert.pem")).ExitCode | Should -Be 0
        Wait-Until { (Get-Content -Raw $LogFile) -match 'E3013 CertificateFailed: a2\.itks\.test: the changed certificate .* still serving serial' } -TimeoutSeconds 10 -What 'the refusal'
        (Get-ServedFingerprint $TlsPort 'a2.itks.test') | Should -Be $Fingerprint['a2-new']
    }
}

Describe 'HTTP/2 in the clear with prior knowledge (h2c), routed by :authority' {
    It 'serves each tenant over h2c and HTTP/1.1 on the same cleartext port' {
        foreach ($t in 'a', 'b') {
            ((& curl -s --http2-prior-knowledge -w ' %{http_version}' -H "Host: $t.itks.test" "http://127.0.0.1:$PlainPort/") -join '') | Should -Be "index of tenant $t 2"
            ((& curl -s -w ' %{http_version}' -H "Host: $t.itks.test" "http://127.0.0.1:$PlainPort/") -join '') | Should -Be "index of tenant $t 1.1"
        }
    }
}

Describe 'The same vhost files under Apache + mpm-itk + mod_ssl' {
    It 'serves the same certificates and status codes (HTTP/1.1) as itkd' {
        $conf = "$Base/apache.conf"
        $vhosts = "$Base/apache-vhosts"
        New-Item -ItemType Directory $vhosts | Out-Null
        foreach ($f in Get-ChildItem "$Root/vhosts.d/*.itks.test-ssl.conf") {
            (Get-Content -Raw $f) -replace "127\.0\.0\.1:$TlsPort", "127.0.0.1:$ApachePort" | Set-Content (Join-Path $vhosts $f.Name)
        }
        # a2 as installed at first: Apache reads what the vhost file says, the renewal test changed it
        Set-ItkCertificate -ConfigRoot $Root -Name a2.itks.test -CertificateFile "$Pki/a2.crt" -KeyFile "$Pki/a2.key"
        @"
$(Get-ApacheTestConfig $Base @('authz_core', 'dir', 'mime', 'ssl', 'socache_shmcb'))
TypesConfig /etc/mime.types
User www-data
Group www-data
Listen 127.0.0.1:$ApachePort https
SSLSessionCache shmcb:$Base/ssl_scache(512000)
<Directory />
    Require all granted
</Directory>
Include $vhosts/*.conf
"@ | Set-Content $conf
        & /usr/sbin/apache2 -f $conf -t 2>&1 | Should -Match 'Syntax OK'
        $env:APACHE_RUN_DIR = $Base; $env:APACHE_LOCK_DIR = $Base; $env:APACHE_LOG_DIR = $Base
        & /usr/sbin/apache2 -f $conf -k start
        $cases = @(
            @('a.itks.test', 'a.itks.test', '/'), @('b.itks.test', 'b.itks.test', '/'), @('a.itks.test', 'a.itks.test', '/missing'),
            @('a.itks.test', 'www.a.itks.test', '/'), @('a.itks.test', 'b.itks.test', '/'), @('a.itks.test', 'a2.itks.test', '/'),
            @('a.itks.test', 's.itks.test', '/'), @($null, 'a.itks.test', '/'), @($null, 'b.itks.test', '/'), @($null, 's.itks.test', '/'))
        try {
            Wait-Until { (Invoke-Https 'a.itks.test' 'a.itks.test' '/' $ApachePort).Status -eq 200 } -What 'Apache to answer'
            $apache = foreach ($c in $cases) { (Invoke-Https $c[0] $c[1] $c[2] $ApachePort).Status }
            $apacheCerts = foreach ($sni in 'a.itks.test', 'b.itks.test', 'a2.itks.test', '') { Get-ServedFingerprint $ApachePort $sni }
        } finally {
            # never "kill 0" (the test's own process group) when Apache did not start
            if (Test-Path "$Base/apache.pid") {
                $apachePid = [int](Get-Content "$Base/apache.pid")
                kill -TERM $apachePid
                Wait-Process -Id $apachePid -Timeout 10 -ErrorAction SilentlyContinue
            }
        }
        Wait-Until { (Get-ServedFingerprint $TlsPort 'a2.itks.test') -eq $Fingerprint['a2'] } -TimeoutSeconds 10 -What 'itkd to serve a2''s first pair again'
        $itkd = foreach ($c in $cases) { (Invoke-Https $c[0] $c[1] $c[2] $TlsPort).Status }
        $itkdCerts = foreach ($sni in 'a.itks.test', 'b.itks.test', 'a2.itks.test', '') { Get-ServedFingerprint $TlsPort $sni }
        for ($i = 0; $i -lt $cases.Count; $i++) { Write-Host ("SNI {0,-14} Host {1,-16} {2,-9} itkd {3}  apache {4}" -f ($cases[$i][0] ?? '-'), $cases[$i][1], $cases[$i][2], $itkd[$i], $apache[$i]) }
        $itkd | Should -Be $apache
        $itkd | Should -Be @(200, 200, 404, 200, 421, 421, 421, 200, 421, 403)
        $itkdCerts | Should -Be $apacheCerts
        $itkdCerts | Should -Be @($Fingerprint['a'], $Fingerprint['b'], $Fingerprint['a2'], $Fingerprint['a'])
    }
}

Describe 'testssl.sh: TLS 1.2 and 1.3 only' {
    It 'offers TLS 1.2 and 1.3 and nothing older' {
        $json = "$Base/testssl.json"
        & testssl --quiet --color 0 --warnings off --protocols --jsonfile $json "127.0.0.1:$TlsPort" *> "$Base/testssl.out"
        $findings = Get-Content -Raw $json | ConvertFrom-Json
        $by = @{}; foreach ($f in $findings) { $by[$f.id] = $f.finding }
        foreach ($old in 'SSLv2', 'SSLv3', 'TLS1', 'TLS1_1') { $by[$old] | Should -Match 'not offered' -Because $old }
        $by['TLS1_2'] | Should -Match '^offered'
        $by['TLS1_3'] | Should -Match '^offered'
    }
}

Describe 'ACME: Request-ItkCertificate runs lego as the site user against pebble' {
    BeforeAll {
        @{ pebble = @{ listenAddress = "127.0.0.1:$AcmePort"; managementListenAddress = "127.0.0.1:$AcmeManagement"; certificate = "$Pki/pebble.crt"; privateKey = "$Pki/pebble.key"
                httpPort = $PlainPort; tlsPort = $TlsPort; ocspResponderURL = ''; externalAccountBindingRequired = $false } } | ConvertTo-Json -Depth 3 | Set-Content "$Base/pebble.json"
        $script:ChallengeDns = Start-Tool 'pebble-challtestsrv' @('-dns01', "127.0.0.1:$DnsPort", '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', "127.0.0.1:$DnsManagement", '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '') "$Base/challtestsrv.out"
        $env:PEBBLE_VA_NOSLEEP = '1'; $env:PEBBLE_WFE_NONCEREJECT = '0'
        $script:Pebble = Start-Tool 'pebble' @('-config', "$Base/pebble.json", '-dnsserver', "127.0.0.1:$DnsPort", '-strict=false') "$Base/pebble.out"
        Wait-Until { (& curl -s -o /dev/null -w '%{http_code}' --cacert "$Pki/ca.pem" "https://127.0.0.1:$AcmePort/dir") -eq '200' } -What 'pebble'
    }

    It 'issues a certificate whose key the site''s user made, and itkd serves it' {
        Request-ItkCertificate -ConfigRoot $Root -Name b.itks.test -Email 'admin@itks.test' -Server "https://127.0.0.1:$AcmePort/dir" -CaCertificate "$Base/ca.pem" `
            -AcceptTermsOfService -Reload -ControlSocket $Sock -TimeoutSeconds 120
        $key = "$Root/tls/b.itks.test/acme/certificates/b.itks.test.key"
        (& stat -c '%U %a' $key) | Should -Be 'itks-b 600'
        (Select-String -Path "$Root/vhosts.d/b.itks.test-ssl.conf" -Pattern 'SSLCertificateKeyFile').Line | Should -Match ([regex]::Escape($key))
        Wait-Until { (Get-ServedIssuer $TlsPort 'b.itks.test') -match 'Pebble' } -TimeoutSeconds 15 -What 'the issued certificate'
        (Invoke-Https 'b.itks.test' $null).Status | Should -Be 200
        $cert = Get-ItkCertificate -ConfigRoot $Root -Name b.itks.test
        $cert.Issuer | Should -Match 'Pebble'
        $cert.Sans | Should -Contain 'b.itks.test'
    }

    It 'renews only when due: -Renew now changes nothing' {
        $before = Get-ServedFingerprint $TlsPort 'b.itks.test'
        Request-ItkCertificate -ConfigRoot $Root -Name b.itks.test -Email 'admin@itks.test' -Server "https://127.0.0.1:$AcmePort/dir" -CaCertificate "$Base/ca.pem" `
            -AcceptTermsOfService -Renew -NoRandomSleep -Days 1 -TimeoutSeconds 120
        (Get-ServedFingerprint $TlsPort 'b.itks.test') | Should -Be $before
    }
}

Describe 'The certificate cmdlets under -WhatIf' {
    It 'changes no file: New-ItkVhost -CertificateFile, Set-ItkCertificate, Request-ItkCertificate' {
        $before = Get-TreeSnapshot $Root
        New-ItkVhost -ConfigRoot $Root -Name w.itks.test -DocumentRoot "$Www/a" -User itks-a -Listen "127.0.0.1:$TlsPort" -CertificateFile "$Pki/a.crt" -KeyFile "$Pki/a.key" -WhatIf -WarningAction SilentlyContinue
        Set-ItkCertificate -ConfigRoot $Root -Name a.itks.test -CertificateFile "$Pki/a2.crt" -KeyFile "$Pki/a2.key" -WhatIf -WarningAction SilentlyContinue
        Request-ItkCertificate -ConfigRoot $Root -Name a.itks.test -Email 'x@itks.test' -Server "https://127.0.0.1:$AcmePort/dir" -AcceptTermsOfService -WhatIf
        Get-TreeSnapshot $Root | Should -Be $before
    }
}

Describe 'Get-ItkCertificate' {
    It 'lists every TLS site with subject, SANs, issuer and days left, sortable' {
        $all = @(Get-ItkCertificate -ConfigRoot $Root -WarningAction SilentlyContinue)
        ($all.Name | Sort-Object) | Should -Be (@('a.itks.test', 'a2.itks.test', 'b.itks.test', 's.itks.test') | Sort-Object)
        ($all | Where-Object Name -eq 'a.itks.test').Sans | Should -Be @('a.itks.test', 'www.a.itks.test')
        ($all | Sort-Object DaysLeft)[0].DaysLeft | Should -BeLessOrEqual 30
    }

    It 'warns about certificates that expire within 30 days' {
        Get-ItkCertificate -ConfigRoot $Root -Name a.itks.test -WarningVariable w -WarningAction SilentlyContinue | Out-Null
        $w | Should -Match 'a\.itks\.test: the certificate expires on'
    }

    It 'opens a certificate on a path its tenant can steer with the tenant''s rights: a planted link to another tenant''s folder shows nothing of it' {
        # a's vhost names a certificate below a folder a owns; a makes a link in it point at b's 0700 folder
        $linkRoot = "$Base/etc-link"; $homeA = "$Base/home-a"; $homeB = "$Base/home-b"
        New-Item -ItemType Directory "$homeA/own/live", "$homeB/ssl/live" | Out-Null
        Copy-Item "$Pki/b.crt" "$homeB/ssl/live/cert.pem"; Copy-Item "$Pki/a.crt" "$homeA/own/live/cert.pem"
        chown -R itks-b:itks-b $homeB; chmod 0700 $homeB
        chown -R itks-a:itks-a $homeA
        Invoke-AsUser 'itks-a' @('ln', '-s', "$homeB/ssl", "$homeA/ssl") | Out-Null
        New-ItkVhost -ConfigRoot $linkRoot -Name a.itks.test -DocumentRoot "$Www/a" -User itks-a -Listen "127.0.0.1:$TlsPort" `
            -CertificateFile "$Pki/a.crt" -KeyFile "$Pki/a.key" -WarningAction SilentlyContinue | Out-Null
        $file = "$linkRoot/vhosts.d/a.itks.test-ssl.conf"
        (Get-Content $file) -replace '^(\s*SSLCertificateFile).*$', "`$1 $homeA/ssl/live/cert.pem" | Set-Content $file
        $seen = Get-ItkCertificate -ConfigRoot $linkRoot -Name a.itks.test -WarningAction SilentlyContinue
        $seen.Subject | Should -BeNullOrEmpty
        $seen.Problem | Should -Match 'Permission denied'
        # the same place, a folder a can read: read as a, shown
        (Get-Content $file) -replace '^(\s*SSLCertificateFile).*$', "`$1 $homeA/own/live/cert.pem" | Set-Content $file
        $own = Get-ItkCertificate -ConfigRoot $linkRoot -Name a.itks.test -WarningAction SilentlyContinue
        $own.Subject | Should -Be 'CN=a.itks.test'
        $own.Problem | Should -BeNullOrEmpty
    }
}

Describe 'Only workers open certificates and keys, each only its own user''s (strace of every itkd process)' {
    It 'finds no open of a site''s files by the master or a dispatcher, and none by another user''s worker' {
        $log = Get-Content -Raw $LogFile
        $workers = @{}
        foreach ($m in [regex]::Matches($log, 'WorkerSpawned: pool (itks-[ab]):itks-[ab]: worker pid (\d+)')) { $workers[[int]$m.Groups[2].Value] = $m.Groups[1].Value }
        $workers.Count | Should -BeGreaterThan 1
        # threads belong to the process that cloned them with CLONE_THREAD
        $process = @{}
        $opens = [System.Collections.Generic.List[object]]::new()
        foreach ($line in Get-Content $Trace) {
            if ($line -match '^(\d+)\s+(clone3?|fork|vfork)\((.*)\)\s+=\s+(\d+)') {
                $parent, $flags, $child = [int]$Matches[1], $Matches[3], [int]$Matches[4]
                $process[$child] = $flags.Contains('CLONE_THREAD') ? $parent : $child
            } elseif ($line -match '^(\d+)\s+openat\([^,]+, "([^"]+)"') {
                $opens.Add([pscustomobject]@{ Tid = [int]$Matches[1]; Path = $Matches[2] })
            }
        }
        function Get-Tgid([int] $Tid) { $seen = 0; while ($process.ContainsKey($Tid) -and $process[$Tid] -ne $Tid -and $seen++ -lt 64) { $Tid = $process[$Tid] }; $Tid }
        $siteOpens = @($opens | Where-Object { $_.Path -like "$Root/tls/*" })
        $siteOpens.Count | Should -BeGreaterThan 0 -Because 'the workers did open their pairs'
        foreach ($o in $siteOpens) {
            $tgid = Get-Tgid $o.Tid
            $workers.ContainsKey($tgid) | Should -BeTrue -Because "$($o.Path) was opened by pid $tgid (thread $($o.Tid)), which must be a worker"
            $site = ($o.Path -replace "^$([regex]::Escape("$Root/tls/"))", '').Split('/')[0]
            $owner = (& stat -c '%U' "$Root/tls/$site")
            $workers[$tgid] | Should -Be $owner -Because "$($o.Path) belongs to $owner"
        }
    }
}
