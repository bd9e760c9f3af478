Console.WriteLine("rx-netstack");
