# itkd with real root, real users, real processes, loopback only. Each Describe says which
# invariant it proves. The server is started with Start-ItkServer and stopped by its pid.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Port = 18211
    $script:Base = New-TestRoot
    $script:Root = Join-Path $Base 'etc'
    $script:Www = Join-Path $Base 'www'
    $script:Sock = Join-Path $Base 'itkd.sock'
    $script:LogFile = Join-Path $Base 'itkd.log'
    New-TestUser 'itkt-a'; New-TestUser 'itkt-b'
    foreach ($t in 'a', 'b') {
        $d = Join-Path $Www $t
        New-Item -ItemType Directory -Force "$d/sub", "$d/empty", "$d/secret-dir" | Out-Null
        Set-Content "$d/index.html" "index of tenant $t"
        Set-Content "$d/page.txt" "text of tenant $t"
        Set-Content "$d/sub/index.html" "sub of tenant $t"
        Set-Content "$d/.htpasswd" "$($t)user:{SHA}secret-of-$t"
        Set-Content "$d/.htaccess" 'Deny from all'
        Set-Content "$d/secret-dir/data.txt" "locked of tenant $t"
        [IO.File]::WriteAllBytes("$d/big.bin", [byte[]]::new(20MB))
        New-ItkVhost -ConfigRoot $Root -Name "$t.itkt.test" -DocumentRoot $d -Listen "127.0.0.1:$Port" -Alias "www.$t.itkt.test" -User "itkt-$t" -WarningAction SilentlyContinue
        Set-ItkUser -ConfigRoot $Root -Name "$t.itkt.test" -User "itkt-$t" -FixPermissions | Out-Null
        # a directory its own user cannot enter (EACCES even for the owner), like a mistake on disk
        chmod 0000 "$d/secret-dir"
    }
    chmod 0755 $Www
    # mod_reqtimeout's directive: a client has 2 s to send its request head.
    Add-Content (Join-Path $Root 'itkps.conf') 'RequestReadTimeout header=2'

    # tenant a links to tenant b's page: only the kernel stands in the way
    New-Item -ItemType SymbolicLink -Path "$Www/a/link-to-b.txt" -Target "$Www/b/page.txt" | Out-Null
    $script:Server = Start-ItkServer -ConfigRoot $Root -ControlSocket $Sock -LogPath $LogFile -PassThru
    # warm both pools
    $null = Get-HttpStatus $Port 'a.itkt.test' '/'; $null = Get-HttpStatus $Port 'b.itkt.test' '/'
}

AfterAll {
    if ($Server -and (Get-Process -Id $Server.Pid -ErrorAction SilentlyContinue)) {
        kill -TERM $Server.Pid
        Wait-Process -Id $Server.Pid -Timeout 30 -ErrorAction SilentlyContinue
    }
    Remove-TestUser 'itkt-a', 'itkt-b'
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'itkd processes (/proc/<pid>/status)' {
    BeforeAll {
        function Get-Status([int] $ProcessId) {
            $s = @{}
            foreach ($l in Get-Content "/proc/$ProcessId/status") { $k, $v = $l -split ":\s*", 2; $s[$k] = $v }
            $s
        }
        $script:Children = @(Get-ChildItem /proc -Directory | Where-Object Name -match '^\d+$' | ForEach-Object {
            $st = Get-Status ([int]$_.Name) 2>$null
            if ($st -and $st.PPid -eq "$($Server.Pid)") { [pscustomobject]@{ Pid = [int]$_.Name; Status = $st; Title = (Get-Content -Raw "/proc/$($_.Name)/cmdline") -replace "`0", ' ' } }
        })
    }

    It 'the master is root and titled "itkd: master"' {
        (Get-Status $Server.Pid).Uid | Should -Match '^0\s'
        (Get-Content -Raw "/proc/$($Server.Pid)/cmdline") | Should -Match '^itkd: master'
    }

    It 'no child of the master keeps uid 0' {
        $Children.Count | Should -BeGreaterOrEqual 3
        foreach ($c in $Children) {
            ($c.Status.Uid -split '\s+') | Should -Not -Contain '0' -Because $c.Title
            ($c.Status.Gid -split '\s+') | Should -Not -Contain '0' -Because $c.Title
        }
    }

    It 'the dispatcher runs as www-data with NoNewPrivs' {
        $d = $Children | Where-Object Title -like 'itkd: dispatcher*'
        $uid = (& id -u www-data)
        ($d.Status.Uid -split '\s+') | Should -Be @($uid, $uid, $uid, $uid)
        $d.Status.NoNewPrivs | Should -Be '1'
    }

    It 'each worker has exactly its vhost user''s uid, gid and groups, and NoNewPrivs' {
        foreach ($t in 'a', 'b') {
            $w = $Children | Where-Object Title -like "itkd: worker itkt-$t *"
            $w | Should -HaveCount 1
            $uid = (& id -u "itkt-$t"); $gid = (& id -g "itkt-$t")
            ($w.Status.Uid -split '\s+') | Should -Be @($uid, $uid, $uid, $uid)
            ($w.Status.Gid -split '\s+') | Should -Be @($gid, $gid, $gid, $gid)
            (($w.Status.Groups.Trim() -split '\s+') | Sort-Object) | Should -Be ((& id -G "itkt-$t") -split ' ' | Sort-Object)
            $w.Status.NoNewPrivs | Should -Be '1'
        }
    }

    It 'Get-ItkServer shows the listeners and one pool per user' {
        $s = Get-ItkServer -ControlSocket $Sock
        $s.Listeners | Should -Be @("127.0.0.1:$Port")
        ($s.Pools.User | Sort-Object) | Should -Be @('itkt-a', 'itkt-b')
        ($s.Pools | Where-Object User -eq 'itkt-a').Workers | Should -Be 1
    }
}

Describe 'Tenant isolation over HTTP' {
    It 'serves each tenant its own files' {
        (curl -s -H 'Host: a.itkt.test' "http://127.0.0.1:$Port/page.txt") | Should -Be 'text of tenant a'
        (curl -s -H 'Host: b.itkt.test' "http://127.0.0.1:$Port/page.txt") | Should -Be 'text of tenant b'
        (curl -s -H 'Host: www.b.itkt.test' "http://127.0.0.1:$Port/") | Should -Be 'index of tenant b'
    }

    It 'no URL on a''s host returns b''s content' {
        $b = "$Www/b"
        $paths = @(
            '/../b/page.txt', '/%2e%2e/b/page.txt', '/%2E%2E/%2E%2E/www/b/page.txt', '/..%2fb%2fpage.txt', '/%2e%2e%2fb%2fpage.txt',
            '/..\b\page.txt', '/%5c..%5cb%5cpage.txt', '/sub/../../b/page.txt', '/./../b/page.txt', "/$b/page.txt", "/..$b/page.txt",
            '/link-to-b.txt', '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e' + "$b/page.txt", "http://b.itkt.test/page.txt"
        )
        foreach ($p in $paths) {
            $body = curl -s --path-as-is -H 'Host: a.itkt.test' "http://127.0.0.1:$Port$($p -replace '^http://b.itkt.test','')"
            $body | Should -Not -Match 'tenant b' -Because $p
        }
        foreach ($h in 'a.itkt.test:1', 'A.ITKT.TEST.', 'b.itkt.test@a.itkt.test', 'a.itkt.test b.itkt.test', 'a.itkt.test/../b.itkt.test') {
            curl -s -H "Host: $h" "http://127.0.0.1:$Port/page.txt" | Should -Not -Match 'tenant b' -Because $h
        }
        (Get-HttpStatus $Port 'a.itkt.test' '/link-to-b.txt') | Should -Be 403 -Because 'the kernel refuses tenant a the file of tenant b'
    }

    It 'never serves .ht* files' {
        (Get-HttpStatus $Port 'a.itkt.test' '/.htpasswd') | Should -Be 403
        (Get-HttpStatus $Port 'b.itkt.test' '/.htaccess') | Should -Be 403
        (Get-HttpStatus $Port 'b.itkt.test' '/%2ehtpasswd') | Should -Be 403
    }

    It 'answers 421 and closes when a reused connection asks for the other user''s vhost' {
        $r = Invoke-RawHttp -Port $Port -Requests @(
            "GET /page.txt HTTP/1.1`r`nHost: a.itkt.test`r`n`r`n",
            "GET /page.txt HTTP/1.1`r`nHost: b.itkt.test`r`n`r`n",
            "GET /page.txt HTTP/1.1`r`nHost: a.itkt.test`r`n`r`n")
        $r.Responses[0].Status | Should -Be 200
        $r.Responses[0].Body | Should -Match 'tenant a'
        $r.Responses[1].Status | Should -Be 421
        $r.Responses[1].Headers['connection'] | Should -Be 'close'
        $r.Responses[1].Body | Should -Not -Match 'tenant b'
        $r.Responses.Count | Should -Be 2 -Because 'the server closed the connection after the 421'
    }

    It 'keeps serving the same user''s vhosts on one connection' {
        $r = Invoke-RawHttp -Port $Port -Requests @(
            "GET /page.txt HTTP/1.1`r`nHost: a.itkt.test`r`n`r`n",
            "GET / HTTP/1.1`r`nHost: www.a.itkt.test`r`n`r`n")
        $r.Responses.Status | Should -Be @(200, 200)
        $r.Closed | Should -BeFalse
    }
}

Describe 'Slow clients' {
    It 'an idle connection does not block others and a partial head gets 408' {
        $idle = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port)
        $partial = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port)
        try {
            $s = $partial.GetStream()
            $bytes = [Text.Encoding]::ASCII.GetBytes("GET /page.txt HTTP/1.1`r`nHost: a.itkt")
            $s.Write($bytes, 0, $bytes.Length)
            (Get-HttpStatus $Port 'a.itkt.test' '/page.txt') | Should -Be 200 -Because 'other clients are served meanwhile'
            $partial.ReceiveTimeout = 10000
            $reader = [IO.StreamReader]::new($s)
            $reader.ReadLine() | Should -Be 'HTTP/1.1 408 Request Timeout'
        } finally { $idle.Dispose(); $partial.Dispose() }
    }
}
