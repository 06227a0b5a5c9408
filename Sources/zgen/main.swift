print("zgen")
